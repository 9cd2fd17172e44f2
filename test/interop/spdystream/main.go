// Interop check: drive nexcage's streaming server with moby/spdystream, the SPDY library that
// Kubernetes' client-go and kubelet use, exactly as client-go's remotecommand (v4) and portforward
// clients do. Prints one JSON result line; the e2e test (test/e2e/streaming-interop.test.ts)
// runs it. Usage: spdystream-interop exec URL STDIN | portforward URL PORT BYTES
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moby/spdystream"
)

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func upgrade(rawURL string, protocol string) (*spdystream.Connection, string) {
	u, err := url.Parse(rawURL)
	must(err)
	conn, err := net.Dial("tcp", u.Host)
	must(err)
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\nContent-Length: 0\r\n\r\n", u.RequestURI(), u.Host, protocol)
	_, err = conn.Write([]byte(req))
	must(err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	must(err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		fail(fmt.Errorf("upgrade refused: %d %s", resp.StatusCode, body))
	}
	sc, err := spdystream.NewConnection(&bufConn{conn, br}, false)
	must(err)
	go sc.Serve(spdystream.NoOpStreamHandler)
	return sc, resp.Header.Get("X-Stream-Protocol-Version")
}

func stream(c *spdystream.Connection, h http.Header) *spdystream.Stream {
	s, err := c.CreateStream(h, nil, false)
	must(err)
	must(s.WaitTimeout(30 * time.Second))
	return s
}

func main() {
	switch os.Args[1] {
	case "exec":
		c, proto := upgrade(os.Args[2], "v4.channel.k8s.io")
		errS := stream(c, http.Header{"streamType": {"error"}})
		stdin := stream(c, http.Header{"streamType": {"stdin"}})
		stdout := stream(c, http.Header{"streamType": {"stdout"}})
		stderr := stream(c, http.Header{"streamType": {"stderr"}})
		var out, serr, status []byte
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); out, _ = io.ReadAll(stdout) }()
		go func() { defer wg.Done(); serr, _ = io.ReadAll(stderr) }()
		go func() { defer wg.Done(); status, _ = io.ReadAll(errS) }()
		_, err := stdin.Write([]byte(os.Args[3]))
		must(err)
		must(stdin.Close())
		wg.Wait()
		c.Close()
		print(map[string]string{"protocol": proto, "stdout": string(out), "stderr": string(serr), "status": string(status)})
	case "portforward":
		c, proto := upgrade(os.Args[2], "portforward.k8s.io")
		port := os.Args[3]
		size, _ := strconv.Atoi(os.Args[4])
		errS := stream(c, http.Header{"streamType": {"error"}, "port": {port}, "requestID": {"0"}})
		must(errS.Close())
		data := stream(c, http.Header{"streamType": {"data"}, "port": {port}, "requestID": {"0"}})
		payload := make([]byte, size)
		_, _ = rand.Read(payload)
		var back []byte
		done := make(chan struct{})
		go func() { back, _ = io.ReadAll(data); close(done) }()
		_, err := io.Copy(data, bytes.NewReader(payload))
		must(err)
		must(data.Close())
		<-done
		errText, _ := io.ReadAll(errS)
		c.Close()
		sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
		print(map[string]string{"protocol": proto, "sent": sum(payload), "received": sum(back), "receivedBytes": strconv.Itoa(len(back)), "error": string(errText)})
	}
}

func print(v map[string]string) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func must(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "spdystream-interop:", err)
	os.Exit(2)
}
