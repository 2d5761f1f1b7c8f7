// Package clientloop keeps HTTP/1.1 requests going to addresses until
// stopped and keeps every error: the client side of tests that restart or
// upgrade a server, where a client must see none. For each address it
// runs two clients, one opening a connection per request ("Connection:
// close") and one keeping a connection alive until the server closes it
// or says it will.
//
//	cl := clientloop.Start("127.0.0.1:8080", "/run/l4lb.sock")
//	cl.WaitServed(20, 10*time.Second)
//	... upgrade the server ...
//	errs, served := cl.Stop()
//
// A value containing "/" is a UNIX socket path. Every response must be
// 200; every network wait has a 10 s deadline. It is not a load
// generator (see tools/loadgen): one request at a time per client.
package clientloop
