package registry

import (
	"log/slog"
	"time"
)

// DefaultInterval is how often file and glob sources look for changes, and
// how often the MongoDB source polls when no change stream is available.
const DefaultInterval = time.Second

// Options configures the file and glob sources.
type Options struct {
	// Interval is how often the source checks for changes. If zero or
	// negative, DefaultInterval is used.
	Interval time.Duration
	// Logger receives reload failures and set changes. If nil,
	// slog.Default() is used.
	Logger *slog.Logger
	// DefaultService is the service of a backends-file line that names
	// none (no service=). If empty, such a line belongs to every service
	// watched.
	DefaultService string
}

func (o Options) interval() time.Duration {
	if o.Interval <= 0 {
		return DefaultInterval
	}
	return o.Interval
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}
