//go:build lab

package client_test

// Under the lab tag, TestMain starts a whole lab network in every run of
// the test binary, children included: the multi-process tests, which need
// no node, run in the plain unit tests only.
func init() { childProcessesAllowed = false }
