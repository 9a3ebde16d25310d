// A C++ program whose code is mostly inlined templates (std::map, std::string,
// std::sort, lambdas, a namespace and a class template): mangled linkage names
// and deep inline chains for the symbolizer's correctness test.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace latscope_test {

template <typename T> class Ring {
public:
	explicit Ring(size_t n) : v_(n), at_(0) {}
	void push(const T &x) { v_[at_++ % v_.size()] = x; }
	template <typename F> T fold(F f, T init) const
	{
		for (const T &x : v_)
			init = f(init, x);
		return init;
	}

private:
	std::vector<T> v_;
	size_t at_;
};

static std::string key_of(unsigned i)
{
	std::string s = "k";
	s += std::to_string(i * 2654435761u % 1000);
	return s;
}

__attribute__((noinline)) std::map<std::string, unsigned> count_keys(unsigned n)
{
	std::map<std::string, unsigned> m;
	for (unsigned i = 0; i < n; i++)
		m[key_of(i)] += i;
	return m;
}

__attribute__((noinline)) unsigned sorted_sum(const std::map<std::string, unsigned> &m)
{
	std::vector<std::pair<std::string, unsigned>> v(m.begin(), m.end());
	std::sort(v.begin(), v.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
	Ring<unsigned> r(16);
	for (const auto &kv : v)
		r.push(kv.second + static_cast<unsigned>(kv.first.size()));
	return r.fold([](unsigned a, unsigned b) { return a * 31 + b; }, 7u);
}

} // namespace latscope_test

int main(int argc, char **)
{
	auto m = latscope_test::count_keys(2000u + static_cast<unsigned>(argc));
	std::printf("%u\n", latscope_test::sorted_sum(m));
	return 0;
}
