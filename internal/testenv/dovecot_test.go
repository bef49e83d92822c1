package testenv

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

func TestDovecotStarts(t *testing.T) {
	d := StartDovecot(t, "alice")
	c, err := net.Dial("tcp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	greeting, _ := r.ReadString('\n')
	if !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("greeting %q", greeting)
	}
	c.Write([]byte("a LOGIN alice secret\r\n"))
	line, _ := r.ReadString('\n')
	for strings.HasPrefix(line, "*") {
		line, _ = r.ReadString('\n')
	}
	if !strings.HasPrefix(line, "a OK") {
		t.Fatalf("login: %q", line)
	}
}
