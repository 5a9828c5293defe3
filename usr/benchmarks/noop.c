/* Does nothing: measures boot and exit. */
int main(void)
{
	return 0;
}
