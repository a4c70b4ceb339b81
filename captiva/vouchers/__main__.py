from captiva.vouchers.cli import main

raise SystemExit(main())
