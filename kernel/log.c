/* The kernel log: a ring buffer in guest memory that the loader prints on
 * request (HERMIT_VERBOSE=1), copied to the UART when one is configured. */
#include <hermit/arch.h>

static char logbuf[HERMIT_LOG_SIZE];

void log_init(void)
{
	boot_info->log_addr = (uint64_t)logbuf;
	boot_info->log_head = 0;
}

static void log_putc(char c)
{
	logbuf[boot_info->log_head++ % HERMIT_LOG_SIZE] = c;
	arch_console_putc(c);
}

struct out {
	char *buf;
	size_t size, len;
};

static void emit(struct out *o, char c)
{
	if (!o->buf)
		log_putc(c);
	else if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void emit_num(struct out *o, uint64_t v, unsigned base, int width, char pad, int neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		emit(o, pad);
	while (n)
		emit(o, tmp[--n]);
}

static void format(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(o, *fmt);
			continue;
		}
		int width = 0, lng = 0, alt = 0;
		char pad = ' ';
		if (*++fmt == '#') {
			alt = 1;
			fmt++;
		}
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		while (*fmt == 'l' || *fmt == 'z') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
			emit_num(o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			emit_num(o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, width, pad, 0);
			break;
		case 'p':
			lng = alt = 1;
			/* fall through */
		case 'x':
			if (alt) {
				emit(o, '0');
				emit(o, 'x');
			}
			emit_num(o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, width, pad, 0);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				emit(o, *s);
			break;
		}
		case 'c':
			emit(o, (char)va_arg(ap, int));
			break;
		default:
			emit(o, '%');
			if (*fmt)
				emit(o, *fmt);
			else
				fmt--;
		}
	}
}

void kvprintf(const char *fmt, va_list ap)
{
	struct out o = { 0, 0, 0 };
	format(&o, fmt, ap);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct out o = { buf, size, 0 };
	va_list ap;
	va_start(ap, fmt);
	format(&o, fmt, ap);
	va_end(ap);
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}
