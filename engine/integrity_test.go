//go:build linux

package engine

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestIntegrity is acceptance 2: parallel upgraded connections each push
// size bytes through the balancer to an echo backend and read them back;
// the SHA-256 of what came back must equal what went out.
func TestIntegrity(t *testing.T) {
	conns, size := 32, 64<<20
	if raceEnabled || testing.Short() {
		conns, size = 8, 8<<20
	}
	s := startServer(t, Config{Balancer: newBalancer(t, startUpgradeEcho(t))})
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pushEcho(s.Addrs()[0].String(), uint64(i), size); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d := time.Since(start)
	t.Logf("%d connections x %d MiB each way in %v: %.0f MiB/s each way through the balancer",
		conns, size>>20, d.Round(time.Millisecond), float64(conns*size)/(1<<20)/d.Seconds())
}

// pushEcho upgrades a connection, writes size pseudo-random bytes while
// reading the echo, and compares digests.
func pushEcho(addr string, seed uint64, size int) error {
	c, br, err := upgrade(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	sent := sha256.New()
	werr := make(chan error, 1)
	go func() {
		rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
		buf := make([]byte, 256<<10)
		for left := size; left > 0; {
			n := min(left, len(buf))
			rng.Read(buf[:n])
			sent.Write(buf[:n])
			if _, err := c.Write(buf[:n]); err != nil {
				werr <- err
				return
			}
			left -= n
		}
		werr <- nil
	}()
	got := sha256.New()
	if n, err := io.CopyN(got, br, int64(size)); err != nil {
		return fmt.Errorf("read %d of %d bytes: %w", n, size, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		return fmt.Errorf("SHA-256 of the echo %x; want %x", got.Sum(nil), sent.Sum(nil))
	}
	return nil
}
