// Force-included (gcc -include) into every file that uses the interface.
//
// The proto package signal.integration.v1 becomes the C++ namespace ::signal, and
// glibc declares a function ::signal() in <signal.h>; a namespace and a function of
// the same name cannot share a scope, so any file including both (gtest, httplib
// and <sys/wait.h> all pull in <signal.h>) would fail to compile. Including
// <signal.h> first with the function renamed keeps the interface's name as the
// issue and DESIGN.md fix it. Code that needs the libc call uses sigaction().
#pragma once
#define signal signal_libc_function_
#include <signal.h>
#include <csignal>
#undef signal
