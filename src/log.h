/* Error log (timestamp + level) and access log (combined format). */
#ifndef WEBSERV_LOG_H
#define WEBSERV_LOG_H

enum { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* NULL or "stderr" logs to stderr. Returns -1 if the file cannot be opened. */
int log_open(const char *path);
/* The error log's descriptor (a CGI's stderr goes there). */
int log_fd(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write one already formatted line (with its newline) to an access log fd. */
void log_write(int fd, const char *line, unsigned long len);

#endif
