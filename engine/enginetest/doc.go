// Package enginetest starts engine servers for the tests of the packages
// built around the engine (admin, accesslog), as net/http/httptest starts
// HTTP servers:
//
//	srv := enginetest.Start(t, engine.Config{Balancer: bal})
//	addr := srv.Addrs()[0]
//
// The engine runs on Linux only; elsewhere Start fails the test.
package enginetest
