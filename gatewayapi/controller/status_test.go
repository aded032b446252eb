package controller

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestRejected(t *testing.T) {
	accepted := metav1.Condition{Type: string(gwv1.GatewayConditionAccepted), Status: metav1.ConditionTrue, Reason: "Accepted", ObservedGeneration: 3}
	programmed := metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue, Reason: "Programmed", ObservedGeneration: 3}
	noAddress := metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse,
		Reason: string(gwv1.GatewayReasonAddressNotAssigned), Message: "no address yet", ObservedGeneration: 3}

	t.Run("none", func(t *testing.T) {
		conds := []metav1.Condition{accepted, programmed}
		require.Equal(t, conds, rejected(conds, nil, 3))
	})
	t.Run("programmed", func(t *testing.T) {
		conds := []metav1.Condition{accepted, programmed}
		out := rejected(conds, []string{`node "b" rejected Cluster x: no`, `node "a" rejected Listener y: bad`}, 3)
		require.Equal(t, programmed, conds[1], "the input is left alone")
		require.Equal(t, accepted, out[0])
		require.Equal(t, metav1.Condition{Type: "Programmed", Status: metav1.ConditionFalse, Reason: "Invalid", ObservedGeneration: 3,
			Message: `The data plane rejected the configuration: node "a" rejected Listener y: bad; node "b" rejected Cluster x: no`}, out[1])
	})
	t.Run("not programmed already", func(t *testing.T) {
		out := rejected([]metav1.Condition{accepted, noAddress}, []string{"r"}, 3)
		require.Equal(t, "Invalid", out[1].Reason)
		require.Equal(t, "The data plane rejected the configuration: r. Also: no address yet", out[1].Message)
	})
	t.Run("no Programmed condition", func(t *testing.T) {
		out := rejected([]metav1.Condition{accepted}, []string{"r"}, 4)
		require.Len(t, out, 2)
		require.Equal(t, int64(4), out[1].ObservedGeneration)
	})
	t.Run("long", func(t *testing.T) {
		out := rejected([]metav1.Condition{programmed}, []string{strings.Repeat("é", maxMessage)}, 3)
		require.LessOrEqual(t, len(out[0].Message), maxMessage)
		require.True(t, utf8.ValidString(out[0].Message))
		require.True(t, strings.HasSuffix(out[0].Message, "..."))
	})
}
