package main

import (
	"log/slog"

	"github.com/l4lb/l4lb/registry"
)

// sources turns serve's flags into discovery sources: static endpoints, one
// glob source per unix:/path pattern, a file source, and MongoDB. Their sets
// are merged (see registry.Merged).
func (c *serveConfig) sources(log *slog.Logger) ([]registry.Source, error) {
	var (
		out    []registry.Source
		static []string
	)
	c.names = new(sourceNames)
	opts := registry.Options{Logger: log, DefaultService: c.defaultService()}
	for _, b := range c.backends.values {
		if registry.IsGlob(b) {
			g, err := registry.NewGlob(b, opts)
			if err != nil {
				return nil, err
			}
			out = append(out, c.names.wrap("glob", g))
			continue
		}
		static = append(static, b)
	}
	if len(static) > 0 {
		s, err := registry.NewStatic(static)
		if err != nil {
			return nil, err
		}
		out = append(out, c.names.wrap("static", s))
	}
	if c.backendsFile != "" {
		f, err := registry.NewFile(c.backendsFile, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, c.names.wrap("file", f))
	}
	if c.discovery != "" {
		c.registryMetrics = new(registry.Metrics)
		svcs, err := c.services()
		if err != nil {
			return nil, err
		}
		m, err := registry.NewMongo(registry.MongoConfig{
			URL: c.discovery,
			// Every watched service in one query (registry.MongoConfig).
			Services:     svcs.watchedNames(),
			PollInterval: c.discoveryPoll,
			Grace:        c.discoveryGrace,
			Logger:       log,
			Metrics:      c.registryMetrics,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, c.names.wrap("mongodb", m))
	}
	if len(out) == 0 {
		log.Warn("no backends configured: every request is answered 503 (use --backend, --backends-file or --discovery)")
	}
	return out, nil
}
