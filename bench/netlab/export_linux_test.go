package netlab

// NetnsDir is where named namespaces live, for the external tests
// (package netlab_test, which may import labtest: labtest imports netlab).
const NetnsDir = netnsDir

// NewNamed and DeleteNamed make and remove a named namespace, for a test
// that plants a stale one.
var (
	NewNamed    = newNamed
	DeleteNamed = deleteNamed
)
