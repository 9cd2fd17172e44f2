// A CRI poll client on grpc-go, the kubelet's gRPC library: times N unary calls of one method (an
// empty request, or the given request bytes) over the daemon's unix socket and prints one duration per line (ms);
// or, given `start-then-status <ids>`, the ContainerStatus right after each StartContainer. The answer is taken as bytes
// (not decoded), so the figure is the daemon's answer plus the transport a kubelet would see.
// Built by bench/containers.ts from Debian's golang-google-grpc-dev (GOPATH mode, no downloads).
package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// dial connects with flow-control windows fixed at 1 MiB. Left dynamic, Debian's grpc-go (1.33) grows
// them with its BDP estimator, which has a race (grpc-go #5358, fixed in 1.49): a stream opened while the
// client raises its window keeps the old 64 KiB limit on the client's side, the server is told the new
// one, and the client ends the call with "Internal: unexpected EOF" when more arrives. Fresh connections
// grow their windows during the first calls, where the race fell now and then; a kubelet's connection
// lives as long as the node and its windows were grown long ago, by a grpc-go without the race.
func dial(socket string) (*grpc.ClientConn, error) {
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}
	return grpc.Dial("passthrough:///nexcage", grpc.WithInsecure(), grpc.WithContextDialer(dialer),
		grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(1<<20),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(16<<20)))
}

// rawCodec passes message bytes through; named "proto" so the content type is the usual one.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// startThenStatus starts each created container and times the ContainerStatus sent right after
// its StartContainer answer, as a Go client (the kubelet) would see it: one line per container.
func startThenStatus(conn *grpc.ClientConn, ids []string) error {
	idRequest := func(id string) []byte { return append([]byte{0x0a, byte(len(id))}, id...) }
	invoke := func(method string, req []byte) error {
		var res []byte
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return conn.Invoke(ctx, "/runtime.v1.RuntimeService/"+method, &req, &res)
	}
	for i := 0; i < 20; i++ { // the first calls warm the connection up
		if err := invoke("ContainerStatus", idRequest(ids[0])); err != nil {
			return err
		}
	}
	lines := make([]string, 0, len(ids))
	for _, id := range ids {
		if err := invoke("StartContainer", idRequest(id)); err != nil {
			return err
		}
		start := time.Now()
		if err := invoke("ContainerStatus", idRequest(id)); err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%.4f 0\n", float64(time.Since(start).Nanoseconds())/1e6))
	}
	fmt.Print(strings.Join(lines, ""))
	return nil
}

func main() {
	if len(os.Args) == 4 && os.Args[2] == "start-then-status" {
		conn, err := dial(os.Args[1])
		if err == nil {
			defer conn.Close()
			err = startThenStatus(conn, strings.Split(os.Args[3], ","))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 4 || len(os.Args) > 6 {
		fmt.Fprintln(os.Stderr, "usage: list-client <socket> <full method, e.g. /runtime.v1.RuntimeService/ListContainers> <calls> [gap ms between calls] [request bytes, hex]")
		os.Exit(2)
	}
	socket, method := os.Args[1], os.Args[2]
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	gap := time.Duration(0)
	if len(os.Args) >= 5 {
		ms, err := strconv.Atoi(os.Args[4])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		gap = time.Duration(ms) * time.Millisecond
	}
	conn, err := dial(socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	req := []byte{}
	if len(os.Args) == 6 {
		if req, err = hex.DecodeString(os.Args[5]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	// Printed at the end: a write per call would wake the reading benchmark process on every call,
	// on the same two cores as the daemon being timed.
	lines := make([]string, 0, n)
	for i := 0; i < n+20; i++ {
		var res []byte
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := conn.Invoke(ctx, method, &req, &res)
		d := time.Since(start)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if i >= 20 { // the first calls warm the connection up
			lines = append(lines, fmt.Sprintf("%.4f %d\n", float64(d.Nanoseconds())/1e6, len(res)))
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	fmt.Print(strings.Join(lines, ""))
}
