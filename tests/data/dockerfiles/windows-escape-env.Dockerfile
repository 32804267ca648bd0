# escape=`
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
ENV JAVA_HOME=C:\openjdk-21 `
    PATH="C:\openjdk-21\bin;C:\Windows\system32;C:\Windows"
USER ContainerAdministrator
RUN setx /M PATH "%PATH%"
USER ContainerUser
CMD ["jshell"]
