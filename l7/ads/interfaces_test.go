package ads_test

import (
	"github.com/eniway/eniway/gatewayapi/controller"
	"github.com/eniway/eniway/l7/ads"
)

// The Server is the Gateway controller's Sink and Feedback (the
// controller does not import this package).
var (
	_ controller.Sink     = (*ads.Server)(nil)
	_ controller.Feedback = (*ads.Server)(nil)
)
