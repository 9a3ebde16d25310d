// protolite: round-trips an Order (order.proto, LITE_RUNTIME) through libprotobuf-lite at a
// known rate, so a test can compare latscope's MessageLite parse/serialize counts with the
// program's own. Each iteration serializes the order and parses it back, alternating
// SerializeToString/ParseFromString and SerializeToArray/ParseFromArray.
//
//   protolite [--threads N] [--rate HZ] [--count N] [--duration-ms MS] [--items N] [--wait] [--hold]
//
// --wait: print "ready" and start only on SIGUSR2 (a tracer attaches in between).
// Stops on SIGUSR1, SIGINT, SIGTERM, after --count iterations per thread or after
// --duration-ms, then prints one line:
//   done parsed=P serialized=S string_parse=.. array_parse=.. string_serialize=.. array_serialize=.. threads=T
// After SIGUSR1 (or with --hold) it then idles until SIGINT/SIGTERM, so the process is
// still there when the tracer detaches.
#include "order.pb.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Counts {
	unsigned long string_parse = 0, array_parse = 0, string_serialize = 0, array_serialize = 0;
};

struct Options {
	unsigned threads = 1, rate = 200, items = 8;
	unsigned long count = 0, duration_ms = 0;
	bool wait = false, hold = false;
};

std::atomic<bool> stop_flag{false};
std::atomic<unsigned> finished{0};

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "protolite: %s\n", what);
	std::exit(1);
}

unsigned long parse_num(const char *flag, const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = std::strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		std::fprintf(stderr, "protolite: %s: not a number: %s\n", flag, s);
		std::exit(2);
	}
	return v;
}

void fill(latscope::lite::Order *o, unsigned items)
{
	latscope::lite::Customer *c = o->mutable_customer();
	c->set_name("Ada Lovelace");
	c->mutable_address()->set_street("12 St James's Square");
	c->mutable_address()->set_city("London");
	for (unsigned i = 0; i < items; i++) {
		latscope::lite::Item *it = o->add_items();
		it->set_sku("sku-" + std::to_string(i));
		it->set_quantity(i + 1);
		it->mutable_ship_to()->set_street(std::to_string(i) + " Analytical Row");
		it->mutable_ship_to()->set_city("Marylebone");
		o->add_tags(i * 7);
	}
}

// The parsed copy must be the order that was sent, nested parts included.
bool same(const latscope::lite::Order &a, const latscope::lite::Order &b)
{
	if (a.id() != b.id() || a.customer().address().city() != b.customer().address().city() ||
	    a.items_size() != b.items_size() || a.tags_size() != b.tags_size())
		return false;
	for (int i = 0; i < a.items_size(); i++)
		if (a.items(i).sku() != b.items(i).sku() || a.items(i).ship_to().street() != b.items(i).ship_to().street())
			return false;
	return true;
}

void add_ns(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

void worker(const Options *opt, unsigned index, Counts *out)
{
	latscope::lite::Order order, back;
	std::string wire;
	std::vector<char> buf;
	struct timespec next;
	const long period = 1000000000L / opt->rate;

	fill(&order, opt->items);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long i = 0; !stop_flag.load() && (!opt->count || i < opt->count); i++) {
		order.set_id((uint64_t)index << 32 | i);
		back.Clear();
		if (i % 2 == 0) {
			if (!order.SerializeToString(&wire))
				die("SerializeToString failed");
			out->string_serialize++;
			if (!back.ParseFromString(wire))
				die("ParseFromString failed");
			out->string_parse++;
		} else {
			buf.resize(order.ByteSizeLong());
			if (!order.SerializeToArray(buf.data(), (int)buf.size()))
				die("SerializeToArray failed");
			out->array_serialize++;
			if (!back.ParseFromArray(buf.data(), (int)buf.size()))
				die("ParseFromArray failed");
			out->array_parse++;
		}
		if (!same(order, back))
			die("the parsed order differs from the serialized one");
		add_ns(&next, period);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR)
			;
	}
	finished.fetch_add(1);
}

} // namespace

int main(int argc, char **argv)
{
	Options opt;
	sigset_t sigs;
	int sig = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : nullptr;

		if (!std::strcmp(a, "--wait")) {
			opt.wait = true;
			continue;
		}
		if (!std::strcmp(a, "--hold")) {
			opt.hold = true;
			continue;
		}
		if (!v) {
			std::fprintf(stderr, "usage: protolite [--threads N] [--rate HZ] [--count N] [--duration-ms MS] "
					     "[--items N] [--wait] [--hold]\n");
			return 2;
		}
		if (!std::strcmp(a, "--threads"))
			opt.threads = (unsigned)parse_num(a, v);
		else if (!std::strcmp(a, "--rate"))
			opt.rate = (unsigned)parse_num(a, v);
		else if (!std::strcmp(a, "--count"))
			opt.count = parse_num(a, v);
		else if (!std::strcmp(a, "--duration-ms"))
			opt.duration_ms = parse_num(a, v);
		else if (!std::strcmp(a, "--items"))
			opt.items = (unsigned)parse_num(a, v);
		else {
			std::fprintf(stderr, "protolite: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (!opt.threads || !opt.rate || opt.rate > 1000000) {
		std::fprintf(stderr, "protolite: --threads must be > 0, --rate 1..1000000\n");
		return 2;
	}

	// Signals are taken synchronously by the main thread; the workers inherit the mask.
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

	if (opt.wait) {
		std::printf("ready\n");
		std::fflush(stdout);
		do
			sig = sigwaitinfo(&sigs, nullptr);
		while (sig == SIGUSR1 || (sig < 0 && errno == EINTR));
		if (sig != SIGUSR2) {
			std::printf("done parsed=0 serialized=0 threads=%u\n", opt.threads);
			return 0;
		}
		sig = 0;
	}

	std::vector<Counts> counts(opt.threads);
	std::vector<std::thread> workers;
	struct timespec t0, now, tick = { 0, 10 * 1000000L };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < opt.threads; i++)
		workers.emplace_back(worker, &opt, i, &counts[i]);
	while (finished.load() < opt.threads) {
		int s = sigtimedwait(&sigs, nullptr, &tick);

		if (s == SIGUSR1 || s == SIGINT || s == SIGTERM) {
			sig = s;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (opt.duration_ms &&
		    (unsigned long)((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000) >= opt.duration_ms)
			break;
	}
	stop_flag.store(true);
	for (std::thread &w : workers)
		w.join();

	Counts total;
	for (const Counts &c : counts) {
		total.string_parse += c.string_parse;
		total.array_parse += c.array_parse;
		total.string_serialize += c.string_serialize;
		total.array_serialize += c.array_serialize;
	}
	std::printf("done parsed=%lu serialized=%lu string_parse=%lu array_parse=%lu string_serialize=%lu "
		    "array_serialize=%lu threads=%u\n",
		    total.string_parse + total.array_parse, total.string_serialize + total.array_serialize,
		    total.string_parse, total.array_parse, total.string_serialize, total.array_serialize, opt.threads);
	std::fflush(stdout);

	if (sig == SIGUSR1 || (opt.hold && sig == 0))
		do
			sig = sigwaitinfo(&sigs, nullptr);
		while (sig != SIGINT && sig != SIGTERM);
	google::protobuf::ShutdownProtobufLibrary();
	return 0;
}
