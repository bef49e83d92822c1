package main

import (
	"time"

	"github.com/secureinput/gateway/web"
)

// reservedFiles are the open files the gateway keeps for everything but
// websockets: the SQLite database and its WAL, listeners, mailbox
// connections, calls to the validation service, plain HTTP requests
// (logins, the widget's script, the REST API) and logs.
const reservedFiles = 256

// httpIdleTimeout closes a keep-alive HTTP connection (not a websocket)
// that has carried no request for that long, so idle browsers and clients
// do not hold open files indefinitely. A variable so a test can shorten it.
var httpIdleTimeout = 2 * time.Minute

// connectionBudget returns how many websockets the gateway may hold:
// configured (web.DefaultMaxConnections if 0), lowered if needed so that
// the sockets leave reservedFiles of the process's open-file limit (0 when
// unknown) free. Without that reserve, a full house of websockets starves
// the store, which then cannot open a conversation. lowered says whether
// the configured value had to give way.
func connectionBudget(configured int, fileLimit uint64) (n int, lowered bool) {
	n = configured
	if n <= 0 {
		n = web.DefaultMaxConnections
	}
	if fileLimit == 0 {
		return n, false
	}
	room := 1 // even a tiny limit admits one socket; start-up fails elsewhere
	if fileLimit > reservedFiles+1 {
		room = int(min(fileLimit-reservedFiles, uint64(n)))
	}
	return min(n, room), room < n
}
