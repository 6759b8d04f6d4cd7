from bench.national.runner import main

main()
