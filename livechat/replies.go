package livechat

// Canned replies (常用语, contract §11): one set for the whole desk, read by
// every agent, replaced as a whole by a supervisor, kept in the store.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
)

// bucketReplies holds the canned replies under one key: the set is small
// (at most MaxReplies) and always replaced whole.
const bucketReplies = "chat_replies"

var keyReplies = []byte("set")

// Limits of a canned-reply set.
const (
	MaxReplies       = 500
	maxReplyTopic    = 50   // characters
	maxReplyText     = 2000 // characters, each of zh and en
	maxRepliesBodyKB = 4096
)

var replyKeyword = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Reply is one canned reply. Its texts may hold the placeholders {number}
// and {district}, which the console fills in; the gateway keeps them as
// they are.
type Reply struct {
	Keyword string `json:"keyword"`
	Topic   string `json:"topic"`
	ZH      string `json:"zh"`
	EN      string `json:"en"`
}

// Replies is the body of GET and PUT /v1/replies.
type Replies struct {
	Replies []Reply `json:"replies"`
}

// ensureBuckets creates the buckets this package keeps besides sessions'.
func ensureBuckets(ctx context.Context, db *store.DB) error {
	return db.CreateBuckets(ctx, bucketReplies)
}

// CannedReplies returns the stored set (empty when none was ever put).
func (h *Hub) CannedReplies() (Replies, error) {
	out := Replies{Replies: []Reply{}}
	err := h.d.DB.View(func(tx *store.Tx) error {
		v := tx.Bucket([]byte(bucketReplies)).Get(keyReplies)
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &out)
	})
	if out.Replies == nil {
		out.Replies = []Reply{}
	}
	return out, err
}

// SetCannedReplies validates rs and replaces the stored set with it; the
// error is an *apierr.Error (invalid_request, with fields) when rs is wrong.
func (h *Hub) SetCannedReplies(ctx context.Context, rs Replies) error {
	if fields := validateReplies(rs.Replies); len(fields) > 0 {
		return apierr.Invalid("the canned replies are not valid", fields)
	}
	if rs.Replies == nil {
		rs.Replies = []Reply{}
	}
	v, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	return h.update(ctx, func(tx *store.Tx) error { return tx.Bucket([]byte(bucketReplies)).Put(keyReplies, v) })
}

// validateReplies names every field that is wrong, keyed replies[i].field.
func validateReplies(rs []Reply) map[string]string {
	fields := map[string]string{}
	if len(rs) > MaxReplies {
		fields["replies"] = "at most " + strconv.Itoa(MaxReplies) + " replies"
		return fields
	}
	seen := map[string]int{}
	for i, r := range rs {
		p := "replies[" + strconv.Itoa(i) + "]."
		switch j, dup := seen[r.Keyword]; {
		case !replyKeyword.MatchString(r.Keyword):
			fields[p+"keyword"] = "1 to 32 of a-z, 0-9, _ and -"
		case dup:
			fields[p+"keyword"] = fmt.Sprintf("used by replies[%d] already", j)
		default:
			seen[r.Keyword] = i
		}
		if utf8.RuneCountInString(r.Topic) > maxReplyTopic {
			fields[p+"topic"] = "at most " + strconv.Itoa(maxReplyTopic) + " characters"
		}
		for name, text := range map[string]string{"zh": r.ZH, "en": r.EN} {
			if utf8.RuneCountInString(text) > maxReplyText {
				fields[p+name] = "at most " + strconv.Itoa(maxReplyText) + " characters"
			}
		}
		if r.ZH == "" && r.EN == "" {
			fields[p+"zh"] = "zh or en is required"
		}
	}
	return fields
}

// serveReplies is GET /v1/replies, for every agent.
func (h *Hub) serveReplies(c echo.Context) error {
	if _, err := h.restAgent(c); err != nil {
		return err
	}
	rs, err := h.CannedReplies()
	if err != nil {
		return apierr.Wrap(apierr.CodeInternal, "cannot read the canned replies", err)
	}
	return c.JSON(http.StatusOK, rs)
}

// putReplies is PUT /v1/replies, for supervisors: the body replaces the set.
func (h *Hub) putReplies(c echo.Context) error {
	a, err := h.restAgent(c)
	if err != nil {
		return err
	}
	if !a.Supervisor() {
		return apierr.New(apierr.CodeForbidden, "only a supervisor may change the canned replies")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxRepliesBodyKB<<10+1))
	if err != nil {
		return apierr.Wrap(apierr.CodeBadRequest, "cannot read the body", err)
	}
	if len(body) > maxRepliesBodyKB<<10 {
		return apierr.New(apierr.CodeTooLarge, "the body is larger than "+strconv.Itoa(maxRepliesBodyKB)+" KiB")
	}
	var rs Replies
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return apierr.Wrap(apierr.CodeBadRequest, `the body is {"replies": [{"keyword", "topic", "zh", "en"}]}`, err)
	}
	if err := h.SetCannedReplies(c.Request().Context(), rs); err != nil {
		if ae, ok := errors.AsType[*apierr.Error](err); ok {
			return ae
		}
		return apierr.Wrap(apierr.CodeUnavailable, "cannot store the canned replies; retry", err)
	}
	h.log.Info("livechat: canned replies replaced", "supervisor", a.ID, "replies", len(rs.Replies))
	stored, err := h.CannedReplies()
	if err != nil {
		return apierr.Wrap(apierr.CodeInternal, "cannot read the canned replies", err)
	}
	return c.JSON(http.StatusOK, stored)
}
