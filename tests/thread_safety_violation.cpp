// Must NOT compile with clang -Wthread-safety -Werror: it reads a GUARDED_BY member without its
// lock. tests/CMakeLists.txt checks the build refuses it (proof that the annotations on
// lintel::Mutex are live, not decoration).
#include "gateway/base/mutex.h"

namespace {

class Counter {
 public:
  void Add() {
    lintel::MutexLock lock(mu_);
    ++n_;
  }
  int Peek() const { return n_; }  // no lock: -Wthread-safety must refuse this

 private:
  mutable lintel::Mutex mu_;
  int n_ GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  Counter c;
  c.Add();
  return c.Peek();
}
