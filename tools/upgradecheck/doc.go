// Command upgradecheck upgrades a running l4lb several times in a row
// (SIGUSR2) under load and reports what clients saw: it is the rerunnable
// check that an upgrade refuses no connection, fails no request and cuts
// no WebSocket before its process's drain.
//
//	go run ./tools/upgradecheck                        # 3 upgrades, 1000 WebSockets
//	go run ./tools/upgradecheck -upgrades 5 -ws 2000 -drain 20s -spread 10s
//
// It builds l4lb (or takes -l4lb), starts three tools/echobackend
// backends in its own process and `l4lb serve --pid-file` in front of
// them, then keeps three loads running throughout:
//
//   - tools/loadgen polling (SockJS xhr-polling sessions on keep-alive
//     connections, every echo checked) and connrate (a new connection per
//     request): every error counts (refused, reset, timed out, wrong
//     answer);
//   - -ws WebSockets on the raw /websocket endpoint, each sending a message
//     every -interval and checking its echo; one that closes is reopened at
//     once, as a Meteor client reconnects.
//
// Each upgrade waits -settle, sends SIGUSR2 to the PID in the PID file,
// waits for the file to name the new process (ready), then for the old
// process to exit (drained). A WebSocket may close only while an old
// process drains (between its SIGUSR2 and a second after its exit); an
// echo that does not come within 5 s, or a close at any other time, is an
// error. The report gives each upgrade's times, the loads' counts and the
// WebSocket closes per drain (first and last, seconds after the hand-over).
//
// Exit status: 0 when nothing failed, 1 when anything did, 2 when the run
// could not start. l4lb's log is kept in the printed directory.
//
// It only ever loads this machine (loopback), like tools/loadgen, and
// every run is bounded (each wait has a deadline; loadgen's own bound is
// ten minutes).
package main
