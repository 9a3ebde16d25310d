// gogrpc-client: drives the gogrpc example server over TLS with a mix of unary
// and server-streaming RPCs from -c goroutines, for -n rounds each or for -d,
// (FastOpen: Fast called on a stream the client half-closes only after the reply,
// which grpc-go's server ends with its trailers and a RST_STREAM in one write;
// SlowCancel: Slow with a -cancel-ms deadline, which the client resets the stream at:
// it counts as ok when the deadline is what ended it)
// (SIGINT or SIGTERM ends the run early: calls in flight finish and count)
// and prints one line per method, "METHOD ok N failed M", then a total line and
// the median delay the server measured in Slow ("slow_handler_ns_p50 N").
// Exits 1 when any RPC failed.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "latscope/gogrpcpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

type counter struct{ ok, failed int64 }

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server address")
	ca := flag.String("ca", "cert.pem", "certificate the server must present (PEM)")
	conc := flag.Int("c", 2, "concurrent callers")
	rounds := flag.Int("n", 100, "rounds per caller (a round is one call of each method in -mix)")
	dur := flag.Duration("d", 0, "run for this long instead of -n rounds")
	mix := flag.String("mix", "Fast,Slow", "methods per round: Fast, FastOpen, Slow, SlowCancel, Deep, Burn, Stream")
	depth := flag.Uint("depth", 64, "recursion depth of Deep and Stream")
	count := flag.Uint("count", 5, "replies per Stream call")
	burnUs := flag.Uint("burn-us", 2000, "CPU time per Burn call in microseconds")
	payload := flag.Int("payload", 64, "request payload bytes")
	conns := flag.Int("conns", 1, "connections (callers share them round-robin)")
	insecure := flag.Bool("insecure", false, "plaintext HTTP/2 (h2c): no TLS, -ca unused")
	cancelMs := flag.Uint("cancel-ms", 5, "SlowCancel's deadline in milliseconds (shorter than the server's -slow-ms)")
	flag.Parse()

	transport := grpc.WithInsecure()
	if !*insecure {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gogrpc-client: %v\n", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		transport = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}))
	}
	clients := make([]pb.EchoClient, *conns)
	ccs := make([]*grpc.ClientConn, *conns)
	for i := range clients {
		cc, err := grpc.Dial(*addr, transport, grpc.WithBlock(),
			grpc.WithTimeout(10*time.Second))
		if err != nil {
			fmt.Fprintf(os.Stderr, "gogrpc-client: %s: %v\n", *addr, err)
			os.Exit(1)
		}
		defer cc.Close()
		clients[i] = pb.NewEchoClient(cc)
		ccs[i] = cc
	}
	methods := strings.Split(*mix, ",")
	stats := map[string]*counter{}
	for _, m := range methods {
		stats[m] = &counter{}
	}
	req := &pb.Req{Depth: uint32(*depth), Count: uint32(*count), BurnUs: uint32(*burnUs),
		Payload: make([]byte, *payload)}
	var slowMu sync.Mutex
	var slowNs []uint64
	open := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	call := func(c pb.EchoClient, cc *grpc.ClientConn, m string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		switch m {
		case "Fast":
			_, err = c.Fast(ctx, req)
		case "FastOpen":
			var st grpc.ClientStream
			if st, err = cc.NewStream(ctx, open, "/latscope.gogrpc.Echo/Fast"); err != nil {
				break
			}
			if err = st.SendMsg(req); err != nil {
				break
			}
			if err = st.RecvMsg(new(pb.Rep)); err != nil {
				break
			}
			if err = st.RecvMsg(new(pb.Rep)); err == io.EOF {
				err = st.CloseSend()
			} else if err == nil {
				err = fmt.Errorf("FastOpen: a second reply")
			}
		case "Slow":
			var rep *pb.Rep
			if rep, err = c.Slow(ctx, req); err == nil {
				slowMu.Lock()
				slowNs = append(slowNs, rep.Value)
				slowMu.Unlock()
			}
		case "SlowCancel":
			short, stop := context.WithTimeout(ctx, time.Duration(*cancelMs)*time.Millisecond)
			_, err = c.Slow(short, req)
			stop()
			if status.Code(err) == codes.DeadlineExceeded {
				err = nil
			} else if err == nil {
				err = fmt.Errorf("SlowCancel: answered within %d ms (is the server's -slow-ms longer?)", *cancelMs)
			}
		case "Deep":
			_, err = c.Deep(ctx, req)
		case "Burn":
			_, err = c.Burn(ctx, req)
		case "Stream":
			var st pb.Echo_StreamClient
			if st, err = c.Stream(ctx, req); err != nil {
				break
			}
			n := uint(0)
			for {
				if _, err = st.Recv(); err != nil {
					break
				}
				n++
			}
			if err == io.EOF && n == *count {
				err = nil
			} else if err == io.EOF {
				err = fmt.Errorf("stream: %d replies, want %d", n, *count)
			}
		default:
			err = fmt.Errorf("unknown method %q", m)
		}
		return err
	}
	deadline := time.Now().Add(*dur)
	var stop int32
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		atomic.StoreInt32(&stop, 1)
	}()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, cc := clients[w%len(clients)], ccs[w%len(clients)]
			for r := 0; ; r++ {
				if atomic.LoadInt32(&stop) != 0 || *dur > 0 && !time.Now().Before(deadline) || *dur == 0 && r >= *rounds {
					return
				}
				for _, m := range methods {
					if err := call(c, cc, m); err != nil {
						atomic.AddInt64(&stats[m].failed, 1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", m, err))
					} else {
						atomic.AddInt64(&stats[m].ok, 1)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	sort.Strings(methods)
	var ok, failed int64
	for _, m := range methods {
		fmt.Printf("%s ok %d failed %d\n", m, stats[m].ok, stats[m].failed)
		ok += stats[m].ok
		failed += stats[m].failed
	}
	fmt.Printf("total ok %d failed %d\n", ok, failed)
	if len(slowNs) > 0 {
		sort.Slice(slowNs, func(i, j int) bool { return slowNs[i] < slowNs[j] })
		fmt.Printf("slow_handler_ns_p50 %d\n", slowNs[(len(slowNs)-1)/2])
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "gogrpc-client: first failure: %s\n", e)
		os.Exit(1)
	}
}
