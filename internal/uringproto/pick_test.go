package uringproto

import "testing"

func TestPick(t *testing.T) {
	p := []byte("/sockjs")
	a := pick([]byte("POST /sockjs/123/sessA/xhr HTTP/1.1\r\n"), p, 3)
	if a < 0 || a >= 3 {
		t.Fatalf("pick(session sessA) = %d; want a backend in [0,3)", a)
	}
	if b := pick([]byte("POST /sockjs/999/sessA/xhr_send HTTP/1.1\r\n"), p, 3); b != a {
		t.Errorf("pick(sessA xhr_send) = %d; want %d, the backend of sessA's xhr", b, a)
	}
	seen := map[int]bool{}
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seen[pick([]byte("POST /sockjs/1/"+s+"/xhr HTTP/1.1\r\n"), p, 3)] = true
	}
	if len(seen) < 2 {
		t.Errorf("8 sessions all went to %v; want them spread", seen)
	}
	for _, h := range []string{"GET / HTTP/1.1\r\n", "GET /sockjsx/1/s/xhr HTTP/1.1", "GET /sockjs/1 HTTP/1.1", "GET /sockjs/1/ HTTP/1.1", "GET", ""} {
		if got := pick([]byte(h), p, 3); got != -1 {
			t.Errorf("pick(%q) = %d; want -1 (round robin)", h, got)
		}
	}
	if got := pick([]byte("POST /sockjs/1/s/xhr HTTP/1.1"), nil, 3); got != -1 {
		t.Errorf("pick without a prefix = %d; want -1", got)
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	head, p := []byte("POST /sockjs/123/sessA/xhr HTTP/1.1\r\n"), []byte("/sockjs")
	if n := testing.AllocsPerRun(100, func() { pick(head, p, 3) }); n != 0 {
		t.Errorf("pick allocates %.0f times per call; want 0", n)
	}
}

func FuzzPick(f *testing.F) {
	f.Add([]byte("POST /sockjs/123/sessA/xhr HTTP/1.1\r\n"), 3)
	f.Add([]byte("GET / HTTP/1.1\r\n"), 1)
	f.Add([]byte("GET /sockjs//x/ HTTP/1.1"), 2)
	f.Fuzz(func(t *testing.T, head []byte, n int) {
		if got := pick(head, []byte("/sockjs"), n); got < -1 || (n > 0 && got >= n) || (n <= 0 && got != -1) {
			t.Fatalf("pick(%q, %d) = %d; want -1 or a backend below n", head, n, got)
		}
	})
}
