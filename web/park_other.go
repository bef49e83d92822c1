//go:build !linux

package web

import "net"

// newParking returns nil: without epoll every websocket keeps its reading
// goroutine.
func newParking(net.Conn) parking { return nil }
