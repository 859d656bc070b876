from care_scheduler.service import main

main()
