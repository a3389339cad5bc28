package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestScratch(t *testing.T) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("lang", "zh-CN"), chromedp.Flag("accept-lang", "zh-CN,zh"))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	ctx, cancel3 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel3()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html,<p>hi 你好</p>")); err != nil {
		t.Fatal(err)
	}
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.language`))
	t.Log(lang, err, time.Since(start))
	ctx2, c4 := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer c4()
	if err := chromedp.Do(ctx2, chromedp.Navigate("data:text/html,<p>two</p>")); err != nil {
		t.Fatal(err)
	}
	lang, err = chromedp.Run(ctx2, chromedp.Evaluate[string](`navigator.language + document.body.innerText`))
	t.Log(lang, err, time.Since(start))
}
