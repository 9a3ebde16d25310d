// gogrpc-server: a Go gRPC server over TLS (grpc-go, protobuf-go) for latscope's
// Go tests and benchmarks. Fast answers at once, Slow sleeps -slow-ms (parked on a
// timer, or with -slow-syscall blocked in a nanosleep system call), Deep and
// Stream recurse deep enough that the goroutine's stack must grow (Go copies it,
// which is what breaks uretprobes), Burn spins in hotLoop for the profiler.
// Prints "listening on 127.0.0.1:PORT" once it accepts connections.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	pb "latscope/gogrpcpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

type server struct {
	pb.UnimplementedEchoServer
	slow        time.Duration
	slowSyscall bool
}

// recurse uses about 1 KiB of stack per level, so a few levels outgrow a new
// goroutine's 8 KiB stack and runtime.morestack copies it.
//
//go:noinline
func recurse(n uint32, pad [1000]byte) uint64 {
	if n == 0 {
		return uint64(pad[0])
	}
	pad[n%1000]++
	return recurse(n-1, pad) + uint64(pad[n%1000])
}

// hotLoop is the handler's hot function: the profiler test looks for it by name.
//
//go:noinline
func hotLoop(d time.Duration) uint64 {
	var x uint64 = 1
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

// blockInSyscall holds the goroutine and its thread in the kernel for d: the
// named function an off-CPU stack must show.
//
//go:noinline
func blockInSyscall(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

func (s *server) Fast(ctx context.Context, r *pb.Req) (*pb.Rep, error) {
	return &pb.Rep{Value: uint64(len(r.Payload))}, nil
}

// Slow replies with how long its delay really took (ns): the truth a tracer's
// app phase is compared with, since timers wake late on a busy machine.
func (s *server) Slow(ctx context.Context, r *pb.Req) (*pb.Rep, error) {
	t0 := time.Now()
	if s.slowSyscall {
		blockInSyscall(s.slow)
	} else {
		time.Sleep(s.slow)
	}
	return &pb.Rep{Value: uint64(time.Since(t0))}, nil
}

func (s *server) Deep(ctx context.Context, r *pb.Req) (*pb.Rep, error) {
	var pad [1000]byte
	return &pb.Rep{Value: recurse(r.Depth, pad)}, nil
}

func (s *server) Burn(ctx context.Context, r *pb.Req) (*pb.Rep, error) {
	return &pb.Rep{Value: hotLoop(time.Duration(r.BurnUs) * time.Microsecond)}, nil
}

func (s *server) Stream(r *pb.Req, st pb.Echo_StreamServer) error {
	var pad [1000]byte
	for i := uint32(0); i < r.Count; i++ {
		if err := st.Send(&pb.Rep{Value: recurse(r.Depth, pad)}); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	cert := flag.String("cert", "cert.pem", "certificate (PEM)")
	key := flag.String("key", "key.pem", "private key (PEM)")
	slowMs := flag.Int("slow-ms", 20, "delay of Slow in milliseconds")
	slowSyscall := flag.Bool("slow-syscall", false, "Slow blocks its thread in nanosleep(2) instead of parking on a timer")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	insecure := flag.Bool("insecure", false, "plaintext HTTP/2 (h2c: no transport credentials); -cert and -key unused")
	flag.Parse()

	var opts []grpc.ServerOption
	// Without credentials, grpc-go serves plaintext HTTP/2 by prior knowledge.
	if !*insecure {
		kp, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gogrpc-server: %v\n", err)
			os.Exit(1)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{kp}})))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gogrpc-server: %v\n", err)
		os.Exit(1)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterEchoServer(srv, &server{slow: time.Duration(*slowMs) * time.Millisecond, slowSyscall: *slowSyscall})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.Stop()
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintf(os.Stderr, "gogrpc-server: %v\n", err)
		os.Exit(1)
	}
}
