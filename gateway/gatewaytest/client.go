package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Response is an HTTP answer read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Receipt is the 202 body of the web channel (contract §3 plus citizen_token).
type Receipt struct {
	ID               string    `json:"id"`
	Number           string    `json:"number"` // the request number (contract §11)
	Status           string    `json:"status"`
	ReceivedAt       time.Time `json:"received_at"`
	FirstResponseDue time.Time `json:"first_response_due"`
	HandlingDue      time.Time `json:"handling_due"`
	CitizenToken     string    `json:"citizen_token"`
}

// ErrorBody is the contract's error body.
type ErrorBody struct {
	Error *struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// Client posts to a gateway with a pooled keep-alive transport. Its methods
// return errors rather than failing the test, so goroutines may use them.
type Client struct{ HTTP *http.Client }

// NewClient returns a client whose pool fits concurrency parallel requests.
func NewClient(concurrency int) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = concurrency*2, concurrency*2
	return &Client{HTTP: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// Do sends method url with body and headers and reads the whole answer.
func (c *Client) Do(ctx context.Context, method, url string, body []byte, hdr http.Header) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// PostJSON posts body to url.
func (c *Client) PostJSON(ctx context.Context, url string, body []byte) (*Response, error) {
	return c.Do(ctx, http.MethodPost, url, body, nil)
}

// Receipt decodes a 202 body.
func (r *Response) Receipt() (Receipt, error) {
	var rc Receipt
	if r.Status != http.StatusAccepted {
		return rc, fmt.Errorf("status %d, want 202: %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &rc); err != nil {
		return rc, fmt.Errorf("202 body: %w: %s", err, r.Body)
	}
	if rc.ID == "" {
		return rc, fmt.Errorf("202 body without id: %s", r.Body)
	}
	return rc, nil
}

// WebRequest returns a valid web form body; clientRequestID may be empty.
func WebRequest(clientRequestID, text string) []byte {
	m := map[string]any{"kind": "complaint", "text": text,
		"location": map[string]string{"district": "Huangpu"}}
	if clientRequestID != "" {
		m["client_request_id"] = clientRequestID
	}
	b, _ := json.Marshal(m)
	return b
}
