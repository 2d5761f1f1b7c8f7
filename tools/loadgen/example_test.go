package loadgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/l4lb/l4lb/tools/loadgen"
)

// Run ten seconds of SockJS polling sessions through a balancer on port
// 8080 and print the summary and the JSON line.
func ExampleRun() {
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Scenario: loadgen.Polling,
		Targets:  []string{"127.0.0.1:8080"},
		Workers:  16,
		Duration: 10 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Print(res.Summary())
	json.NewEncoder(os.Stdout).Encode(res)
	if res.Misroutes > 0 {
		fmt.Println("the balancer sent requests of one session to different backends")
	}
}

// ParseFrame reads what SockJS's xhr transport answers.
func ExampleParseFrame() {
	f, err := loadgen.ParseFrame([]byte("a[\"a:hello\"]\n"))
	fmt.Println(f.Type == loadgen.FrameArray, f.Messages, err)
	// Output: true [a:hello] <nil>
}
