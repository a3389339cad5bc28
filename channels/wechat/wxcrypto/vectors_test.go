package wxcrypto_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sharedVectors is the published file beside the project (../shared);
// localVectors is the copy kept here for checkouts without it.
var (
	sharedVectors = filepath.Join("..", "..", "..", "..", "shared", "testdata", "vectors.json")
	localVectors  = filepath.Join("testdata", "vectors.json")
)

type vectors struct {
	URLVerification struct {
		Token string            `json:"token"`
		Query map[string]string `json:"query"`
	} `json:"wechat_url_verification"`
	PlaintextJSON struct {
		Token string            `json:"token"`
		Query map[string]string `json:"query"`
		Body  string            `json:"body"`
	} `json:"wechat_plaintext_push_json"`
	SafeMode struct {
		Token          string            `json:"token"`
		EncodingAESKey string            `json:"encoding_aes_key"`
		AppID          string            `json:"app_id"`
		Query          map[string]string `json:"query"`
		Encrypt        string            `json:"encrypt"`
		DecryptsTo     struct {
			Random string `json:"random"`
			MsgLen int    `json:"msg_len"`
			AppID  string `json:"app_id"`
		} `json:"decrypts_to"`
		EncryptedReply struct {
			Plaintext    string `json:"plaintext"`
			Random       string `json:"random"`
			Encrypt      string `json:"encrypt"`
			Timestamp    string `json:"timestamp"`
			Nonce        string `json:"nonce"`
			MsgSignature string `json:"msg_signature"`
		} `json:"encrypted_reply"`
	} `json:"wechat_safe_mode_push"`
}

// loadVectors reads the shared vectors, else the local copy. It skips only
// when neither exists and CI is unset; in CI a missing file fails.
func loadVectors(t testing.TB) vectors {
	t.Helper()
	shared, errShared := os.ReadFile(sharedVectors)
	local, errLocal := os.ReadFile(localVectors)
	data := shared
	switch {
	case errShared == nil:
		if errLocal == nil && !bytes.Equal(shared, local) {
			t.Fatalf("%s differs from %s: refresh the copy", localVectors, sharedVectors)
		}
	case errLocal == nil && errors.Is(errShared, fs.ErrNotExist):
		data = local
	case errors.Is(errShared, fs.ErrNotExist) && errors.Is(errLocal, fs.ErrNotExist) && os.Getenv("CI") == "":
		t.Skipf("no test vectors at %s or %s", sharedVectors, localVectors)
	default:
		t.Fatalf("reading vectors: shared: %v; local: %v", errShared, errLocal)
	}
	var v vectors
	require.NoError(t, json.Unmarshal(data, &v))
	require.NotEmpty(t, v.SafeMode.Encrypt, "vectors file lacks wechat_safe_mode_push")
	return v
}

func values(m map[string]string) url.Values {
	q := url.Values{}
	for k, v := range m {
		q.Set(k, v)
	}
	return q
}

// safeModeXML is the outer envelope WeChat posts in safe mode (XML).
func safeModeXML(toUser, encrypt string) []byte {
	return []byte("<xml>\n<ToUserName><![CDATA[" + toUser + "]]></ToUserName>\n<Encrypt><![CDATA[" + encrypt + "]]></Encrypt>\n</xml>")
}

// safeModeJSON is the outer envelope WeChat posts in safe mode (JSON).
func safeModeJSON(toUser, encrypt string) []byte {
	b, _ := json.Marshal(map[string]string{"ToUserName": toUser, "Encrypt": encrypt})
	return b
}
