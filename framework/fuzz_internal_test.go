package mega

import (
	"encoding/json"
	"testing"
)

// FuzzFrame feeds arbitrary client frames through the decoder and a typed
// router, and checks that every outcome is an error the client can read:
// no panic, and every frame the server would send back is valid JSON that
// round-trips the error's code and the message's ref.
func FuzzFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"chat.send","payload":{"text":"hi"},"ref":"1"}`,
		`{"type":"chat.send","payload":{"text":5}}`,
		`{"type":"nope","ref":"\u0000\"\\"}`,
		`{"type":`, `[]`, `null`, `"str"`, `{"type":"chat.send","payload":null}`,
		"{\"type\":\"\xff\xfe\",\"ref\":\"\xc3\"}",
	} {
		f.Add([]byte(seed))
	}
	r := NewRouter()
	Handle(r, "chat.send", func(_ *Ctx, in struct {
		Text string `json:"text"`
	}) error {
		if in.Text == "" {
			return BadRequest("text is required")
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg Message
		if err := json.Unmarshal(data, &msg); err != nil {
			checkErrorFrame(t, BadRequest("frame is not a JSON message object: "+jsonProblem(err)), "")
			return
		}
		err := r.Dispatch(nil, msg)
		if err == nil {
			return
		}
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("router returned a non-client error %T: %v", err, err)
		}
		checkErrorFrame(t, e, msg.Ref)
	})
}

func checkErrorFrame(t *testing.T, e *Error, ref string) {
	t.Helper()
	frame := errorFrame(e, ref)
	var got struct {
		Type    string
		Ref     string
		Payload struct{ Code, Message, Ref string }
	}
	if err := json.Unmarshal(frame, &got); err != nil {
		t.Fatalf("error frame is not valid JSON: %v\n%s", err, frame)
	}
	want, _ := json.Marshal(ref) // what the client decodes back (invalid UTF-8 becomes U+FFFD)
	var wantRef string
	_ = json.Unmarshal(want, &wantRef)
	if got.Type != "error" || got.Payload.Code != e.Code || got.Ref != wantRef || got.Payload.Ref != wantRef {
		t.Fatalf("error frame %s does not carry code %q and ref %q", frame, e.Code, wantRef)
	}
}
