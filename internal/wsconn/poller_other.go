//go:build !linux

package wsconn

import (
	"log/slog"
	"net"
)

// Poller parks nothing where there is no epoll: every websocket keeps its
// reading goroutine.
type Poller struct{}

// NewPoller returns a poller that parks nothing.
func NewPoller(*slog.Logger) *Poller { return &Poller{} }

// Close does nothing.
func (p *Poller) Close() error { return nil }

func (p *Poller) newParking(net.Conn) parking { return nil }
