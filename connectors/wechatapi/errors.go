package wechatapi

import (
	"errors"
	"fmt"
)

// Sentinels a caller branches on. An *APIError with the matching errcode
// satisfies errors.Is for ErrOutOfWindow, ErrQuota and ErrTokenInvalid.
var (
	// ErrOutOfWindow (errcode 45015): the citizen has not written within the
	// last 48 hours, so WeChat refuses customer-service messages. Permanent:
	// record message.delivery_failed; the next citizen message reopens it.
	ErrOutOfWindow = errors.New("wechatapi: outside the 48-hour reply window")
	// ErrQuota (errcode 45047): too many messages to this citizen without a
	// reply from them. Permanent for this message.
	ErrQuota = errors.New("wechatapi: reply quota for this user exhausted")
	// ErrTokenInvalid (errcode 40001, 40014, 42001): the access token was
	// refused. The client refreshes it and retries once by itself; seeing it
	// means the retry was refused too. Transient.
	ErrTokenInvalid = errors.New("wechatapi: access token refused")
	// ErrInvalidArgument: the call was refused before reaching WeChat (empty
	// openid, empty text). Permanent.
	ErrInvalidArgument = errors.New("wechatapi: invalid argument")
)

// APIError is a non-zero errcode from WeChat.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("wechat errcode %d: %s", e.Code, e.Msg) }

// Is maps errcodes onto the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrOutOfWindow:
		return e.Code == 45015
	case ErrQuota:
		return e.Code == 45047
	case ErrTokenInvalid:
		return tokenInvalid(e.Code)
	}
	return false
}

func tokenInvalid(code int) bool { return code == 40001 || code == 40014 || code == 42001 }

// transientCodes are errcodes worth retrying later: WeChat busy, token
// trouble, and API-wide rate limits that reset. Every other errcode names a
// problem with this message or our configuration that a retry cannot fix.
var transientCodes = map[int]bool{
	-1:    true,                           // system busy
	40001: true, 40014: true, 42001: true, // token, already refreshed once
	45009: true, // daily API call limit, resets at midnight
	45011: true, // API minute limit
}

// HTTPError is a non-200 HTTP answer (WeChat itself answers 200 even for
// errors, so this is a proxy or outage).
type HTTPError struct {
	StatusCode int
}

func (e *HTTPError) Error() string { return fmt.Sprintf("wechat API HTTP status %d", e.StatusCode) }

// Permanent reports whether retrying err cannot succeed, so the caller should
// record message.delivery_failed instead of retrying: ErrOutOfWindow,
// ErrQuota, ErrInvalidArgument, any errcode not known to be transient, and
// HTTP 4xx other than 408 and 429. Network errors, timeouts and 5xx are not
// permanent.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidArgument) {
		return true
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return !transientCodes[apiErr.Code]
	}
	if httpErr, ok := errors.AsType[*HTTPError](err); ok {
		s := httpErr.StatusCode
		return s >= 400 && s < 500 && s != 408 && s != 429
	}
	return false
}
