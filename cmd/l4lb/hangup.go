package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/l4lb/l4lb/registry"
)

// reloadOnHangup re-reads the backends file (the registry.File among
// sources) each time a signal arrives on hup, at once and even if the file
// looks unchanged, and logs one line saying what was reloaded. Flags and
// the environment cannot be re-read by a running process, and the other
// sources follow their inputs on their own; established connections are
// never touched. It returns when ctx is done.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, sources []registry.Source, log *slog.Logger) {
	var files []*registry.File
	for _, s := range sources {
		if n, ok := s.(namedSource); ok {
			s = n.src
		}
		if f, ok := s.(*registry.File); ok {
			files = append(files, f)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if len(files) == 0 {
			log.Info("SIGHUP: nothing to reload (only --backends-file is re-read)")
			continue
		}
		for _, f := range files {
			n, err := f.Reload()
			if err != nil {
				log.Error("SIGHUP: backends file not reloaded, keeping the last set", "path", f.Path(), "err", err)
				continue
			}
			log.Info("SIGHUP: reloaded backends file", "path", f.Path(), "backends", n)
		}
	}
}
