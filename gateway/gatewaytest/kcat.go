package gatewaytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Need returns the path of an external program the test depends on. When it
// is missing the test is skipped, unless the environment variable CI is set:
// then it fails, so that CI never passes by skipping.
func Need(t testing.TB, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required (CI is set): %v; ./scripts/test.sh installs it", program, err)
	}
	t.Skipf("%s not installed (./scripts/test.sh installs it): %v", program, err)
	return ""
}

// Record is one Kafka record as kcat printed it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Headers   map[string]string
	Value     []byte
}

// kcatRecord is kcat's -J output.
type kcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
	Headers   []string `json:"headers"`
}

// Consume reads every record of topic from the beginning to the current end
// with kcat, an independent Kafka client (`kcat -C -e -J`). It skips the test
// when kcat is missing (fails under CI).
func Consume(t testing.TB, brokers, topic string) []Record {
	t.Helper()
	recs, err := ConsumeE(context.Background(), Need(t, "kcat"), brokers, topic)
	if err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	return recs
}

// ConsumeE is Consume returning an error, for polling.
func ConsumeE(ctx context.Context, kcat, brokers, topic string) ([]Record, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-e", "-J", "-q", "-o", "beginning",
		"-b", brokers, "-t", topic, "-X", "socket.timeout.ms=10000")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kcat -C -t %s: %w: %s", topic, err, stderr.Bytes())
	}
	var out []Record
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var kr kcatRecord
		if err := json.Unmarshal(line, &kr); err != nil {
			return nil, fmt.Errorf("kcat output line %q: %w", line, err)
		}
		r := Record{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Headers: map[string]string{}}
		if kr.Key != nil {
			r.Key = *kr.Key
		}
		if kr.Payload != nil {
			r.Value = []byte(*kr.Payload)
		}
		for i := 0; i+1 < len(kr.Headers); i += 2 {
			r.Headers[kr.Headers[i]] = kr.Headers[i+1]
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
