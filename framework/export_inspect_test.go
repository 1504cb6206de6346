package mega

// CrashBus closes inst's cluster bus connection without a word, the way a
// crashed process vanishes: no bye, no more heartbeats, no inspect
// answers, while its peers keep it until the roster TTL. The instance can
// still be shut down afterwards. It exists for the tests of package
// mega_test.
func CrashBus(inst *Instance) {
	inst.buses[inst.cfg.WSCluster.Bus].Conn().Close()
}
