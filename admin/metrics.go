package admin

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics counts the admin UI's requests by route template (never the
// raw path, which can carry ids and would let anyone grow the label set)
// and status, on the registry the service passes in.
func httpMetrics(reg prometheus.Registerer) (gin.HandlerFunc, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vahti_http_requests_total",
		Help: "Admin UI requests, by route template, method and status.",
	}, []string{"route", "method", "status"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vahti_http_request_duration_seconds",
		Help:    "Admin UI request durations, by route template.",
		Buckets: []float64{.005, .025, .1, .5, 1, 5, 30},
	}, []string{"route"})
	for _, c := range []prometheus.Collector{requests, duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := c.Request.Method
		switch method {
		case "GET", "HEAD", "POST", "PUT", "DELETE":
		default:
			method = "other"
		}
		requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}, nil
}
