package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// GatewayBinary builds cmd/gateway once per test binary and returns its
// path, for tests that run the real process (SIGKILL, load, the CLI).
func GatewayBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatewaybin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/secureinput/gateway/cmd/gateway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build the gateway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// RemoveGatewayBinary deletes what GatewayBinary built; a package's
// TestMain calls it after its tests, so no run leaves a binary behind.
func RemoveGatewayBinary() {
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
}

// startedURL is the start-up line the gateway prints once it serves.
var startedURL = regexp.MustCompile(`Secure Input Gateway (?:vault )?is running on (https?://\S+)`)

// StartGateway runs `bin serve --listen 127.0.0.1:0 --data data` with the
// given extra flags, waits for its start-up line and returns the process
// and its URL; the process is killed when the test ends.
func StartGateway(t testing.TB, bin, data string, flags ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--data", data}, flags...)...)
	return cmd, RunUntilURL(t, cmd)
}

// RunUntilURL starts cmd, a gateway serve, and returns the URL of its
// start-up line; the rest of its output is read and dropped, and the
// process is killed when the test ends.
func RunUntilURL(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := startedURL.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return m[1]
		}
	}
	t.Fatal("the gateway printed no start-up line")
	return ""
}
