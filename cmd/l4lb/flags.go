package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// listFlag is a repeatable flag. An environment variable bound to it holds
// a comma-separated list; the first value given on the command line
// replaces that list instead of adding to it.
type listFlag struct {
	values  []string
	fromEnv bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(v string) error {
	if l.fromEnv {
		l.values, l.fromEnv = nil, false
	}
	l.values = append(l.values, v)
	return nil
}

// setFromEnv replaces the list with the comma-separated items of v.
func (l *listFlag) setFromEnv(v string) { l.setSplit(v, ",") }

// setSplit replaces the list with the items of v separated by sep.
func (l *listFlag) setSplit(v, sep string) {
	l.values = l.values[:0]
	for item := range strings.SplitSeq(v, sep) {
		if item = strings.TrimSpace(item); item != "" {
			l.values = append(l.values, item)
		}
	}
	l.fromEnv = true
}

// envBinding names the environment variable that sets a flag's default.
type envBinding struct{ flag, env string }

// parseWithEnv applies the environment variables of bindings to fs, then
// parses args: a flag on the command line wins over its variable. Usage
// lines name each flag's variable.
func parseWithEnv(fs *flag.FlagSet, bindings []envBinding, args []string) error {
	for _, b := range bindings {
		f := fs.Lookup(b.flag)
		if f == nil {
			panic("parseWithEnv: no flag " + b.flag) // a programming error
		}
		f.Usage += " (env " + b.env + ")"
		v, ok := os.LookupEnv(b.env)
		if !ok || v == "" {
			continue
		}
		if l, isList := f.Value.(interface{ setFromEnv(string) }); isList {
			l.setFromEnv(v)
			continue
		}
		if err := fs.Set(b.flag, v); err != nil {
			return fmt.Errorf("env %s=%q: %w", b.env, v, err)
		}
	}
	return fs.Parse(args)
}

// newLogger returns a text or JSON logger on stderr at the named level.
func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
