package sniff

// A connection that starts with a TLS record (RFC 8446 §5.1) is NotHTTP;
// when the first record is a ClientHello, the server name (RFC 6066 §3) is
// read from it if it is there. A ClientHello split over several records
// is reported without SNI: reassembling it is not worth the state.

// tls waits for the first TLS record and reads it. It returns NeedMore or
// finishes sc as NotHTTP.
func (s *Sniffer) tls(sc *Scan, buf []byte) Status {
	// TLSPlaintext: type(1) = handshake, legacy_record_version(2) = 3.x,
	// length(2), then a Handshake: msg_type(1) = client_hello, length(3).
	if len(buf) >= 2 && buf[1] != 3 {
		return sc.finish(NotHTTP)
	}
	if len(buf) >= 6 && buf[5] != 1 {
		return sc.finish(NotHTTP)
	}
	if len(buf) < 6 {
		return NeedMore
	}
	sc.flags |= fTLS
	end := 5 + (int(buf[3])<<8 | int(buf[4]))
	if end > len(buf) {
		if end > s.maxHead {
			return sc.finish(NotHTTP) // too big to wait for
		}
		return NeedMore
	}
	if ss, se, ok := serverName(buf, 5, end); ok {
		sc.sni = span{int32(ss), int32(se)}
		sc.flags |= fSNI
	}
	return sc.finish(NotHTTP)
}

// serverName finds the host_name of the server_name extension in the
// handshake message buf[p:end], in offsets.
func serverName(buf []byte, p, end int) (int, int, bool) {
	r := reader{buf: buf, p: p, end: end}
	if r.u8() != 1 { // client_hello
		return 0, 0, false
	}
	if n := r.u24(); r.p+n < r.end {
		r.end = r.p + n
	}
	r.skip(2 + 32)  // legacy_version, random
	r.skip(r.u8())  // legacy_session_id
	r.skip(r.u16()) // cipher_suites
	r.skip(r.u8())  // legacy_compression_methods
	if n := r.u16(); r.p+n < r.end {
		r.end = r.p + n // extensions
	}
	for r.ok() {
		typ, n := r.u16(), r.u16()
		if typ != 0 { // server_name
			r.skip(n)
			continue
		}
		if e := r.p + n; e < r.end {
			r.end = e
		}
		if n := r.u16(); r.p+n < r.end {
			r.end = r.p + n // server_name_list
		}
		for r.ok() {
			nameType, n := r.u8(), r.u16()
			if nameType == 0 && n > 0 && r.p+n <= r.end { // host_name
				return r.p, r.p + n, true
			}
			r.skip(n)
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// reader reads big-endian integers from buf[p:end]; past end it reads
// zeros and ok turns false.
type reader struct {
	buf    []byte
	p, end int
	bad    bool
}

func (r *reader) ok() bool { return !r.bad && r.p < r.end }

func (r *reader) u8() int {
	if r.p+1 > r.end {
		r.bad = true
		return 0
	}
	r.p++
	return int(r.buf[r.p-1])
}

func (r *reader) u16() int { return r.u8()<<8 | r.u8() }

func (r *reader) u24() int { return r.u8()<<16 | r.u16() }

func (r *reader) skip(n int) {
	if r.p+n > r.end {
		r.bad = true
		r.p = r.end
		return
	}
	r.p += n
}
