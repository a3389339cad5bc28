package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
)

// Dead returns up to limit dead letters, oldest first, of one endpoint
// ("" for all).
func (q *Queue) Dead(endpoint string, limit int) ([]Entry, error) {
	return q.list(bucketDead, endpoint, limit)
}

// Pending returns up to limit queued messages, grouped by endpoint and
// request key, in delivery order within a group.
func (q *Queue) Pending(endpoint string, limit int) ([]Entry, error) {
	return q.list(bucketQueue, endpoint, limit)
}

func (q *Queue) list(bucket, endpoint string, limit int) ([]Entry, error) {
	out := []Entry{}
	err := q.db.View(func(tx *store.Tx) error {
		c := tx.Bucket([]byte(bucket)).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var e Entry
			var err error
			if bucket == bucketQueue {
				err = decodeQueued(v, &e)
			} else {
				err = json.Unmarshal(v, &e)
			}
			if err != nil {
				continue
			}
			if endpoint == "" || e.Endpoint == endpoint {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// Replay moves a dead letter back to the tail of its request's queue with
// a fresh schedule and the same webhook-id (the partner de-duplicates if an
// earlier attempt did arrive). It fails with ErrNotFound, or with
// ErrEndpointDisabled while the endpoint is disabled.
func (q *Queue) Replay(ctx context.Context, id string) (*Entry, error) {
	var out Entry
	now := q.opts.Clock.Now().UTC()
	err := q.db.Update(ctx, func(tx *store.Tx) error {
		dead := tx.Bucket([]byte(bucketDead))
		v := dead.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("delivery: corrupt dead letter %q: %w", id, err)
		}
		st, err := getEndpoint(tx, e.Endpoint)
		if err != nil {
			return err
		}
		if st.Disabled {
			return fmt.Errorf("%w: %s", ErrEndpointDisabled, e.Endpoint)
		}
		if len(q.secretsFor(e.Endpoint)) == 0 {
			return fmt.Errorf("%w: %q has no secret", ErrUnknownEndpoint, e.Endpoint)
		}
		e.Attempts, e.LastStatus, e.LastError, e.Reason, e.DiedAt, e.NextAt = 0, 0, "", "", nil, now
		if err := dead.Delete([]byte(id)); err != nil {
			return err
		}
		out = e
		return appendQueue(tx, &e)
	})
	if err != nil {
		return nil, err
	}
	q.Notify()
	return &out, nil
}

// Endpoints lists every registered or remembered endpoint with its state
// and its pending and dead message counts.
func (q *Queue) Endpoints() ([]EndpointState, error) {
	states := map[string]*EndpointState{}
	q.mu.RLock()
	for name := range q.secrets {
		states[name] = &EndpointState{Name: name}
	}
	q.mu.RUnlock()
	err := q.db.View(func(tx *store.Tx) error {
		if err := tx.Bucket([]byte(bucketEndpoints)).ForEach(func(k, v []byte) error {
			var st EndpointState
			if json.Unmarshal(v, &st) == nil {
				st.Name = string(k)
				states[st.Name] = &st
			}
			return nil
		}); err != nil {
			return err
		}
		get := func(name string) *EndpointState {
			if states[name] == nil {
				states[name] = &EndpointState{Name: name}
			}
			return states[name]
		}
		if err := tx.Bucket([]byte(bucketQueue)).ForEach(func(k, _ []byte) error {
			if i := bytes.IndexByte(k, 0); i > 0 {
				get(string(k[:i])).Pending++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketDead)).ForEach(func(_, v []byte) error {
			var e struct {
				Endpoint string `json:"endpoint"`
			}
			if json.Unmarshal(v, &e) == nil && e.Endpoint != "" {
				get(e.Endpoint).Dead++
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]EndpointState, 0, len(states))
	for _, st := range states {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b EndpointState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Enable re-enables an endpoint disabled by a 410. Its dead letters stay
// dead until replayed.
func (q *Queue) Enable(ctx context.Context, name string) (EndpointState, error) {
	known := len(q.secretsFor(name)) > 0
	var st EndpointState
	err := q.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		st, err = getEndpoint(tx, name)
		if err != nil {
			return err
		}
		if !known && tx.Bucket([]byte(bucketEndpoints)).Get([]byte(name)) == nil {
			return fmt.Errorf("%w: endpoint %q", ErrNotFound, name)
		}
		st.Disabled, st.DisabledAt, st.Reason = false, nil, ""
		return putEndpoint(tx, st)
	})
	if err != nil {
		return EndpointState{}, err
	}
	q.Notify()
	return st, nil
}

// MountAdmin registers the operator routes, guarded by
// "Authorization: Bearer <adminToken>":
//
//	GET  /v1/admin/webhooks/dead?endpoint=&limit=      dead letters
//	POST /v1/admin/webhooks/dead/{id}/replay           requeue one
//	GET  /v1/admin/webhooks/endpoints                  endpoint states and counts
//	POST /v1/admin/webhooks/endpoints/{partner}/enable re-enable after a 410
//
// With an empty adminToken the routes exist but answer 404 (admin API off).
func (q *Queue) MountAdmin(e *echo.Echo, adminToken string) {
	g := e.Group("/v1/admin/webhooks", adminGuard(adminToken))
	g.GET("/dead", q.handleDead)
	g.POST("/dead/:id/replay", q.handleReplay)
	g.GET("/endpoints", q.handleEndpoints)
	g.POST("/endpoints/:partner/enable", q.handleEnable)
}

func adminGuard(token string) echo.MiddlewareFunc {
	want := sha256.Sum256([]byte(token))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if token == "" {
				return apierr.New(apierr.CodeNotFound, "the admin API is disabled: auth.admin_token is not set")
			}
			h := c.Request().Header.Get("Authorization")
			scheme, got, _ := strings.Cut(h, " ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				return apierr.New(apierr.CodeUnauthorized, "admin token required: Authorization: Bearer <auth.admin_token>")
			}
			return next(c)
		}
	}
}

func (q *Queue) handleDead(c echo.Context) error {
	limit := 100
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return apierr.Invalid("bad limit", map[string]string{"limit": "must be an integer from 1 to 1000"})
		}
		limit = n
	}
	items, err := q.Dead(c.QueryParam("endpoint"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"dead": items})
}

func (q *Queue) handleReplay(c echo.Context) error {
	e, err := q.Replay(c.Request().Context(), c.Param("id"))
	if err != nil {
		return adminError(err)
	}
	return c.JSON(http.StatusAccepted, map[string]any{"id": e.ID, "endpoint": e.Endpoint, "status": "queued"})
}

func (q *Queue) handleEndpoints(c echo.Context) error {
	eps, err := q.Endpoints()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"endpoints": eps})
}

func (q *Queue) handleEnable(c echo.Context) error {
	st, err := q.Enable(c.Request().Context(), c.Param("partner"))
	if err != nil {
		return adminError(err)
	}
	return c.JSON(http.StatusOK, st)
}

func adminError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return apierr.Wrap(apierr.CodeNotFound, "not found", err)
	case errors.Is(err, ErrEndpointDisabled):
		e := apierr.Invalid("the endpoint is disabled; enable it first", map[string]string{"endpoint": "disabled"})
		e.Err = err
		return e
	case errors.Is(err, ErrUnknownEndpoint):
		e := apierr.Invalid("the endpoint is not configured", map[string]string{"endpoint": "not configured"})
		e.Err = err
		return e
	}
	return err
}
