package engine

import "strconv"

// errorResponses are the minimal HTTP/1.1 answers the engine gives itself
// before closing: a status line, an empty body and Connection: close.
var errorResponses = map[int][]byte{}

func init() {
	for code, reason := range map[int]string{
		400: "Bad Request",
		404: "Not Found",
		408: "Request Timeout",
		414: "URI Too Long",
		431: "Request Header Fields Too Large",
		502: "Bad Gateway",
		503: "Service Unavailable",
		504: "Gateway Timeout",
	} {
		errorResponses[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + reason +
			"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
}

// errorResponse returns the bytes to send for status (400 if unknown).
func errorResponse(status int) []byte {
	if b, ok := errorResponses[status]; ok {
		return b
	}
	return errorResponses[400]
}
