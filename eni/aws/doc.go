// Package aws implements eni.Cloud with the AWS SDK for Go v2
// (github.com/aws/aws-sdk-go-v2/service/ec2). Its name clashes with the
// SDK's aws package; import it as eniaws:
//
//	import eniaws "github.com/eniway/eniway/eni/aws"
//
//	cloud, err := eniaws.New(ctx, eniaws.Options{})
//
// # Model
//
// A Cloud is stateless apart from its rate limiter: every method is one or
// more EC2 requests, nothing is cached, and the values returned are fresh
// copies. Each eni.Cloud method maps to one EC2 action (pages aside):
//
//	DescribeInstance        DescribeInstances
//	DescribeInstanceTypes   DescribeInstanceTypes (100 types a request or page)
//	DescribeENIs            DescribeNetworkInterfaces
//	DescribeSubnets         DescribeSubnets
//	DescribeSecurityGroups  DescribeSecurityGroups
//	DescribeRouteTables     DescribeRouteTables
//	CreateENI               CreateNetworkInterface (tags in TagSpecifications)
//	AttachENI               AttachNetworkInterface
//	DetachENI               DetachNetworkInterface
//	DeleteENI               DeleteNetworkInterface
//	SetDeleteOnTermination  ModifyNetworkInterfaceAttribute
//	AssignIPs, AssignPrefixes, UnassignIPs, UnassignPrefixes
//	                        AssignPrivateIpAddresses, UnassignPrivateIpAddresses
//	CreateTags              CreateTags
//
// Describes follow every page with the SDK's paginators and return results
// sorted by ID. Those naming no IDs ask for EC2's largest page (MaxResults),
// which makes them paginated requests: EC2 throttles unfiltered,
// unpaginated describes harder. eni filters become EC2 filters (see each
// method). Addresses and prefixes are netip values everywhere; strings exist
// only in the SDK's types, converted in this package, and a value EC2
// returns that does not parse fails the call with ErrMalformedResponse,
// naming the field and the value.
//
// Arguments EC2 would refuse as missing or out of range (a count below 1,
// both secondary addresses and prefixes at creation, an empty instance ID
// or type name, nothing to unassign or tag) are refused before any request
// with an error wrapping eni.ErrInvalidParameter; since EC2 said nothing,
// it is not an *eni.APIError. An empty instance ID would otherwise describe
// every instance in the region.
//
// DescribeInstance makes one request: the interfaces it returns carry no
// tags, because DescribeInstances does not report interface tags; use
// DescribeENIs with an InstanceID filter when tags matter.
//
// # Options and defaults
//
// The zero Options is valid. New loads the AWS configuration with
// config.LoadDefaultConfig (environment, shared config and credential files,
// web identity, EKS Pod Identity, instance role), unless Options.Config
// gives one; Region and Credentials override the configuration's, and
// BaseEndpoint points the client elsewhere, e.g. at the EC2 wire emulator
// with static credentials:
//
//	eniaws.New(ctx, eniaws.Options{
//		Region:       "us-east-1",
//		BaseEndpoint: "http://127.0.0.1:8080",
//		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
//		RateLimit:    rate.Inf,
//	})
//
// Options.Client replaces the SDK client altogether (a wrapper adding
// metrics, a test double); the limiter still applies.
//
// # Rate limiting
//
// One client-side token bucket (golang.org/x/time/rate), shared by every
// call of a Cloud, limits the requests it sends. The default, 5 requests a
// second with a burst of 20, is chosen so that this Cloud alone can never
// be throttled. EC2 meters each account and region in token buckets per
// action (or per category of actions); the smallest refill among the actions
// this package calls is 5 tokens a second (mutating interface and address
// actions, attach and detach), the smallest bucket 50 (attach and detach,
// unfiltered describes of interfaces and security groups). One shared
// limiter cannot tell which action its next token will go to, so only a
// rate no higher than the smallest refill is safe whatever the mix; a burst
// of 20 leaves at least 30 tokens of the smallest bucket to other clients of
// the account (other clusters, the console, autoscalers). Callers whose
// traffic is mostly describes (20 a second refill) can raise RateLimit;
// rate.Inf disables the limiter.
//
// Waiting for a token honours the context: when the next token would come
// after the context's deadline, the call fails at once, before any request,
// with an error wrapping context.DeadlineExceeded.
//
// # Retries
//
// The SDK's standard retryer retries throttling (RequestLimitExceeded),
// 5xx and connection errors with jittered exponential backoff, up to
// Options.MaxAttempts attempts (default 3; 1 disables retries). Retries
// draw from the limiter too: a method takes a token before calling the
// client, and passes the client an option that adds a finalize middleware
// inside the SDK's retry loop, which takes a token before every attempt
// after the first. A client that is not the SDK's (Options.Client) ignores
// that option and is limited once per call.
//
// A retried CreateNetworkInterface cannot create a second interface: the
// SDK sets its ClientToken once per call. The other mutating actions have
// no such token: if a response is lost and the SDK retries, an
// AssignPrivateIpAddresses may have assigned addresses the caller never
// saw. Callers reconcile against DescribeENIs, as package ipam does.
//
// # Errors
//
// A failure EC2 reports (a smithy.APIError, after the retries) comes back
// as an *eni.APIError with the action, the AWS error code and message; it
// wraps the eni sentinel for its code (eni.SentinelForCode), so
// errors.Is(err, eni.ErrInsufficientCIDRBlocks) and errors.As to
// *eni.APIError both work. Other failures (network, context, credentials)
// are wrapped as "eni/aws: <Action>: <error>". Debug logs of each call
// (action, limiter wait, duration, attempts, error, request ID) go to
// Options.Logger.
//
// # IAM
//
// The actions this package calls, which the caller's role needs (see
// IAMActions):
//
//	ec2:DescribeInstances
//	ec2:DescribeInstanceTypes
//	ec2:DescribeNetworkInterfaces
//	ec2:DescribeSubnets
//	ec2:DescribeSecurityGroups
//	ec2:DescribeRouteTables
//	ec2:CreateNetworkInterface
//	ec2:AttachNetworkInterface
//	ec2:DetachNetworkInterface
//	ec2:DeleteNetworkInterface
//	ec2:ModifyNetworkInterfaceAttribute
//	ec2:AssignPrivateIpAddresses
//	ec2:UnassignPrivateIpAddresses
//	ec2:CreateTags
//
// ec2:CreateTags is needed twice over: for CreateTags, and for
// CreateNetworkInterface with tags, which EC2 authorizes as tagging on
// creation (condition key ec2:CreateAction = CreateNetworkInterface).
// Nothing else is called: not DescribeVpcs, not DescribeAvailabilityZones.
//
// On EKS, IAM roles for service accounts (IRSA) work with no code: the pod
// identity webhook sets AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and
// AWS_REGION, which config.LoadDefaultConfig reads; so does EKS Pod
// Identity. Leave Options.Config and Options.Credentials unset to use them.
package aws
