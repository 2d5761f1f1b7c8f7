package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// FrameType is the first byte of a SockJS frame.
type FrameType byte

// SockJS frame types (SockJS protocol 0.3, "Framing accepted by the client"):
//
//	o              open, the first frame of every session
//	h              heartbeat
//	a["m1","m2"]   a JSON array of string messages
//	c[3000,"why"]  close, with a code and a reason
const (
	FrameOpen      FrameType = 'o'
	FrameHeartbeat FrameType = 'h'
	FrameArray     FrameType = 'a'
	FrameClose     FrameType = 'c'
)

// Frame is one parsed SockJS frame.
type Frame struct {
	Type FrameType
	// Messages holds the messages of an 'a' frame; nil for other types.
	Messages []string
	// Code and Reason are set for a 'c' frame only.
	Code   int
	Reason string
}

// ErrNoFrame is returned by ParseFrames when the body holds no frame at all.
var ErrNoFrame = errors.New("sockjs: no frame")

// ParseFrame parses exactly one SockJS frame. The xhr transports end each
// frame with "\n"; one trailing newline is accepted and ignored, so a
// WebSocket message and an xhr line parse the same way.
func ParseFrame(b []byte) (Frame, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return Frame{}, ErrNoFrame
	}
	f := Frame{Type: FrameType(b[0])}
	rest := b[1:]
	switch f.Type {
	case FrameOpen, FrameHeartbeat:
		if len(rest) != 0 {
			return Frame{}, fmt.Errorf("sockjs: parse %q: bytes after %q frame", truncate(b), f.Type)
		}
	case FrameArray:
		// An 'a' frame is never empty: the server only sends one when it
		// has messages, and an empty array would be indistinguishable
		// from a lost message in the echo checks.
		if err := json.Unmarshal(rest, &f.Messages); err != nil || f.Messages == nil {
			return Frame{}, fmt.Errorf("sockjs: parse %q: want a JSON array of strings", truncate(b))
		}
		if len(f.Messages) == 0 {
			return Frame{}, fmt.Errorf("sockjs: parse %q: empty message array", truncate(b))
		}
	case FrameClose:
		var v []json.RawMessage
		if err := json.Unmarshal(rest, &v); err != nil || len(v) != 2 {
			return Frame{}, fmt.Errorf("sockjs: parse %q: want [code, reason]", truncate(b))
		}
		if err := json.Unmarshal(v[0], &f.Code); err != nil {
			return Frame{}, fmt.Errorf("sockjs: parse %q: close code: %w", truncate(b), err)
		}
		if err := json.Unmarshal(v[1], &f.Reason); err != nil {
			return Frame{}, fmt.Errorf("sockjs: parse %q: close reason: %w", truncate(b), err)
		}
	default:
		return Frame{}, fmt.Errorf("sockjs: parse %q: unknown frame type %q", truncate(b), f.Type)
	}
	return f, nil
}

// ParseFrames parses an xhr transport body: one or more frames, each ended
// by "\n". Polling (xhr) answers carry exactly one frame; streaming bodies
// carry several.
func ParseFrames(body []byte) ([]Frame, error) {
	var frames []Frame
	for len(body) > 0 {
		line, rest, found := bytes.Cut(body, []byte("\n"))
		if !found {
			return frames, fmt.Errorf("sockjs: parse %q: frame not ended by newline", truncate(line))
		}
		f, err := ParseFrame(line)
		if err != nil {
			return frames, err
		}
		frames = append(frames, f)
		body = rest
	}
	if len(frames) == 0 {
		return nil, ErrNoFrame
	}
	return frames, nil
}

// AppendSend appends the body of an xhr_send request, or the payload of a
// client WebSocket message, carrying msgs: a JSON array of strings.
func AppendSend(dst []byte, msgs ...string) []byte {
	dst = append(dst, '[')
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		q, _ := json.Marshal(m) // a string always marshals
		dst = append(dst, q...)
	}
	return append(dst, ']')
}

// String renders f in the SockJS wire format, without a trailing newline.
func (f Frame) String() string {
	switch f.Type {
	case FrameArray:
		b, _ := json.Marshal(f.Messages)
		return "a" + string(b)
	case FrameClose:
		b, _ := json.Marshal([]any{f.Code, f.Reason})
		return "c" + string(b)
	default:
		return string(rune(f.Type))
	}
}

// truncate keeps error messages short when a server answers with a page.
func truncate(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return b[:max]
	}
	return b
}
