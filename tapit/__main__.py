from tapit.cli import main

raise SystemExit(main())
