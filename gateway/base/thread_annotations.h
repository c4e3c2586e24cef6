// Clang's thread-safety capability attributes (-Wthread-safety), as macros that expand to nothing
// on other compilers. The build turns -Wthread-safety on for clang (with -Werror under
// LINTEL_WERROR, as tools/test and CI build), so a member marked GUARDED_BY(mu_) read or written
// without holding mu_ fails the build.
//
// Use them with lintel::Mutex (gateway/base/mutex.h): libstdc++'s std::mutex carries no
// annotations, so the analysis cannot see it being locked.
// Reference: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
#pragma once

#if defined(__clang__)
#define LINTEL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LINTEL_THREAD_ANNOTATION(x)
#endif

// On a class: objects of this type are capabilities (a mutex).
#define CAPABILITY(x) LINTEL_THREAD_ANNOTATION(capability(x))
// On an RAII class that acquires a capability in its constructor and releases it in its destructor.
#define SCOPED_CAPABILITY LINTEL_THREAD_ANNOTATION(scoped_lockable)
// On a data member: reading or writing it requires holding `x`.
#define GUARDED_BY(x) LINTEL_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: dereferencing it requires holding `x`.
#define PT_GUARDED_BY(x) LINTEL_THREAD_ANNOTATION(pt_guarded_by(x))
// On a function: the caller must hold (REQUIRES) / must not hold (EXCLUDES) the capabilities.
#define REQUIRES(...) LINTEL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) LINTEL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: it acquires / releases the capabilities (none named: `this`).
#define ACQUIRE(...) LINTEL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) LINTEL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) LINTEL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: asserts at run time that the calling thread holds the capability.
#define ASSERT_CAPABILITY(x) LINTEL_THREAD_ANNOTATION(assert_capability(x))
// On a function: returns a reference to the capability `x`.
#define RETURN_CAPABILITY(x) LINTEL_THREAD_ANNOTATION(lock_returned(x))
// Turns the analysis off for one function: say why next to it.
#define NO_THREAD_SAFETY_ANALYSIS LINTEL_THREAD_ANNOTATION(no_thread_safety_analysis)
