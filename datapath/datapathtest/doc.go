// Package datapathtest is the conformance suite of package datapath: the
// same tests run against every backend (datapath/fake, and datapath/ebpf
// on the kernel), so that the fake stays equal to the real thing. It also
// builds the frames the tests feed them.
package datapathtest
