package http

// UploadWait and MaxApplyBody are the upload budget's wait and the apply
// route's cap, for the tests.
const (
	UploadWait   = uploadWait
	MaxApplyBody = maxApplyBody
)

// SetUploadBudget gives the process an upload budget of size bytes and
// returns what puts the previous one back.
func SetUploadBudget(size int64) (restore func()) {
	saved := uploads
	uploads = newUploadBudget(size)
	return func() { uploads = saved }
}
