-- wrk script: every request is POST /v1/sql with the JSON body in $WRK_SQL_BODY, e.g.
--   WRK_SQL_BODY='{"sql": "SELECT 1"}' wrk -t2 -c16 -d10s --latency -s wrk_sql.lua http://127.0.0.1:3110/v1/sql
wrk.method = "POST"
wrk.body = os.getenv("WRK_SQL_BODY") or error("set WRK_SQL_BODY to the request's JSON body")
wrk.headers["Content-Type"] = "application/json"
