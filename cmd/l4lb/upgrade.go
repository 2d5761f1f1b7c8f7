package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/l4lb/l4lb/engine"
)

// Upgrades: on SIGUSR2, serve starts a new process of the binary on disk
// (cloudflare/tableflip), which inherits every listening socket: the
// engine's (engine.Config.Sockets) and the metrics listener. The new
// process waits for its first backend set, starts accepting on the same
// sockets and signals that it is ready; only then does the old process
// stop accepting and drain its connections, then exit. If the new process
// exits or is not ready within the upgrade timeout, the old one keeps
// serving and logs why; an upgrade while the previous old process still
// drains is refused (tableflip allows one at a time).

// DefaultUpgradeWait bounds how long a new process of an upgrade waits for
// its first backend set; without one it exits and the old process keeps
// serving. It is below tableflip's upgrade timeout (a minute), after which
// the old process kills a new one that never became ready.
const DefaultUpgradeWait = 30 * time.Second

// handover gives serve its listening sockets and hands them on: from and
// to another process of l4lb through tableflip, and from systemd's socket
// activation. A nil *handover does neither (the demo).
type handover struct {
	upg     *tableflip.Upgrader // nil where tableflip does not run
	sockets *deferredSockets    // the engine's sockets, handed over beside tableflip; nil without it
	systemd []activationSocket
	pidFile string
	log     *slog.Logger
	handed  atomic.Bool // an upgrade succeeded: the new process accepts now
}

// newHandover takes the sockets this process was started with (from a
// previous l4lb, or from systemd). Only one may exist in a process.
func newHandover(pidFile string, log *slog.Logger) (*handover, error) {
	h := &handover{pidFile: pidFile, log: log}
	var err error
	if h.systemd, err = activationSockets(); err != nil {
		return nil, err
	}
	for _, s := range h.systemd {
		log.Info("socket activation", "listener", s.spec, "name", s.name)
	}
	h.upg, err = newUpgrader(pidFile)
	if errors.Is(err, tableflip.ErrNotSupported) {
		log.Warn("upgrades without downtime are not supported here; SIGUSR2 is ignored", "err", err)
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if h.sockets, err = newDeferredSockets(h.upg.Fds); err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return h, nil
}

// tableflip allows one Upgrader per process; serve runs once per process,
// except in tests that run the command's function several times.
var (
	upgraderOnce sync.Once
	upgrader     *tableflip.Upgrader
	upgraderErr  error
)

func newUpgrader(pidFile string) (*tableflip.Upgrader, error) {
	upgraderOnce.Do(func() {
		upgrader, upgraderErr = tableflip.New(tableflip.Options{PIDFile: pidFile})
	})
	return upgrader, upgraderErr
}

// isUpgrade reports whether this process was started by an upgrade and is
// not ready yet: the old process still serves the same sockets.
func (h *handover) isUpgrade() bool { return h != nil && h.upg != nil && h.upg.HasParent() }

// engineConfig lets the engine take its sockets from the previous process
// or systemd, and record them for the next.
func (h *handover) engineConfig(cfg *engine.Config) {
	if h == nil {
		return
	}
	if h.sockets != nil {
		cfg.Sockets = h.sockets
	}
	for _, s := range h.systemd {
		cfg.Inherited = append(cfg.Inherited, s.file)
	}
}

// activationSpecs are the addresses of systemd's sockets, in the order it
// passed them: what serve listens on when --listen is not given.
func (h *handover) activationSpecs() []string {
	if h == nil {
		return nil
	}
	var specs []string
	for _, s := range h.systemd {
		specs = append(specs, s.spec)
	}
	return specs
}

// listen returns a TCP listener for addr (the metrics listener; any other
// listener serve adds must come through here to survive an upgrade): the
// previous process's, systemd's socket for the address, or a new one; it
// is recorded for the next process.
func (h *handover) listen(addr string) (net.Listener, error) {
	if h == nil {
		return net.Listen("tcp", addr)
	}
	if h.upg != nil {
		if ln, err := h.upg.Fds.Listener("tcp", addr); ln != nil || err != nil {
			return ln, err
		}
	}
	var ln net.Listener
	var err error
	for _, s := range h.systemd {
		if s.spec == addr {
			ln, err = net.FileListener(s.file)
			break
		}
	}
	if ln == nil && err == nil {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if h.upg != nil {
		if err := h.upg.Fds.AddListener("tcp", addr, ln.(tableflip.Listener)); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

// ready says that this process accepts: it writes the PID file and, in an
// upgrade, tells the old process to stop accepting. From then on this
// process owns the UNIX socket files.
func (h *handover) ready(srv *engine.Server) {
	if h == nil || h.upg == nil {
		return
	}
	if err := h.upg.Ready(); err != nil {
		h.log.Error("could not report readiness", "err", err)
		return
	}
	srv.KeepSocketFiles(false)
	h.sockets.closeUnused()
	if h.upg.HasParent() {
		h.log.Info("upgrade: ready; the previous process stops accepting", "pid", os.Getpid())
		go func() {
			if err := h.upg.WaitForParent(context.Background()); err != nil {
				h.log.Warn("upgrade: previous process", "err", err)
				return
			}
			h.log.Info("upgrade: previous process exited; upgrades possible again")
		}()
	}
}

// upgradeOnSignal starts an upgrade for every signal on sig until ctx is
// done. Each attempt logs its outcome; a failed one changes nothing.
func (h *handover) upgradeOnSignal(ctx context.Context, sig <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		switch {
		case h == nil || h.upg == nil:
			log.Warn("SIGUSR2: upgrades are not available here; ignored")
			continue
		case h.handed.Load():
			log.Warn("SIGUSR2: this process has handed over and drains; signal the new one (see the PID file)")
			continue
		}
		h.log.Info("SIGUSR2: upgrading: starting a new process", "binary", os.Args[0])
		if h.sockets != nil {
			if err := h.sockets.offer(); err != nil {
				h.log.Error("upgrade failed; this process keeps serving", "err", err)
				continue
			}
		}
		if err := h.upg.Upgrade(); err != nil {
			h.log.Error("upgrade failed; this process keeps serving", "err", err)
			continue
		}
		h.handed.Store(true)
	}
}

// handedOver is closed once a new process has taken over; nil (never
// ready) without upgrades.
func (h *handover) handedOver() <-chan struct{} {
	if h == nil || h.upg == nil {
		return nil
	}
	return h.upg.Exit()
}

// endUpgrades refuses upgrades from now on and closes the upgrader's
// copies of the listening sockets.
func (h *handover) endUpgrades() {
	if h != nil && h.upg != nil {
		h.upg.Stop()
		h.sockets.close()
	}
}

// stop ends the upgrader. A process that exits without having handed over
// removes its PID file, if the file still names it.
func (h *handover) stop() {
	if h == nil || h.upg == nil {
		return
	}
	h.upg.Stop()
	h.sockets.close()
	if h.handed.Load() || h.pidFile == "" {
		return
	}
	if b, err := os.ReadFile(h.pidFile); err == nil && string(bytes.TrimSpace(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(h.pidFile)
	}
}

// upgradeSignal is the signal that starts an upgrade.
var upgradeSignal = syscall.SIGUSR2
